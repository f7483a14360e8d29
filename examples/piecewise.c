/* A piecewise function: a cubic near zero, a square root branch and a logarithmic tail. */
#include <math.h>
#pragma precisec range(x, -2, 6)
#pragma precisec rmse(1e-10)
double piecewise(double x) {
    double y;
    if (x < 0.0) {
        y = x * x * (3.0 + x) / 4.0;
    } else if (x <= 2.0) {
        y = sqrt(x + 1.0) - 1.0;
    } else {
        double t = log(x - 1.0);
        y = sqrt(3.0) - 1.0 + t / (1.0 + t * t);
    }
    return x > 5.0 ? y + 0.125 * (x - 5.0) : y;
}
