#include <math.h>
#pragma precisec range(x1, -15.00000001, 15.00000001)
#pragma precisec range(x2, -15.00000001, 15.00000001)
#pragma precisec range(x3, -15.00000001, 15.00000001)
#pragma precisec rmse(3.86e-13)
double rigidBody1(double x1, double x2, double x3) {
    return (((-(x1 * x2)) - (2.0 * (x2 * x3))) - x1) - x3;
}
