#include <math.h>
#pragma precisec range(x, 0.1, 0.3)
#pragma precisec rmse(1.99e-16)
double predatorPrey(double x) {
    double t1 = x / 1.11;
    return ((4.0 * x) * x) / (1.0 + (t1 + t1));
}
