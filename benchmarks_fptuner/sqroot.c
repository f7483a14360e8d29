#include <math.h>
#pragma precisec range(x, 0, 1)
#pragma precisec rmse(7.45e-16)
double sqroot(double x) {
    double x2 = x * x;
    double x3 = x2 * x;
    double x4 = x2 * x2;
    return (((1.0 + (0.5 * x)) - (0.125 * x2)) + (0.0625 * x3)) - (0.0390625 * x4);
}
