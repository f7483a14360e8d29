/* Horner evaluation of a degree-10 polynomial (a truncated exp series) in a loop. */
#include <math.h>
#define DEGREE 10
#pragma precisec range(x, -1, 1)
#pragma precisec rmse(1e-12)
double horner(double x) {
    const double c[DEGREE + 1] = {1.0, 1.0, 0.5, 0.16666666666666666, 0.041666666666666664,
                                  0.008333333333333333, 0.001388888888888889,
                                  0.0001984126984126984, 2.48015873015873e-05,
                                  2.755731922398589e-06, 2.755731922398589e-07};
    double p = c[DEGREE];
    for (int k = DEGREE - 1; k >= 0; k--) {
        p = p * x + c[k];
    }
    return p;
}
