#include <math.h>
#pragma precisec range(x, -1.57079632679, 1.57079632679)
#pragma precisec rmse(8.73e-16)
double sine(double x) {
    double x2 = x * x;
    double x3 = x2 * x;
    double x5 = x2 * x3;
    double x7 = x2 * x5;
    return ((x - (x3 / 6.0)) + (x5 / 120.0)) - (x7 / 5040.0);
}
