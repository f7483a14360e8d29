#include <math.h>
#pragma precisec range(x1, -15.00000001, 15.00000001)
#pragma precisec range(x2, -15.00000001, 15.00000001)
#pragma precisec range(x3, -15.00000001, 15.00000001)
#pragma precisec rmse(5.23e-11)
double rigidBody2(double x1, double x2, double x3) {
    double a = (x1 * x2) * x3;
    double b = 3.0 * (x3 * x3);
    return ((((2.0 * a) + b) - (x2 * a)) + b) - x2;
}
