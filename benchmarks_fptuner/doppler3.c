#include <math.h>
#pragma precisec range(u, -30.0001, 120.0001)
#pragma precisec range(v, 319.99999, 20300.00001)
#pragma precisec range(T, -50.000000001, 30.000000001)
#pragma precisec rmse(1.02e-13)
double doppler3(double u, double v, double T) {
    double t1 = 331.4 + (0.6 * T);
    double s = t1 + u;
    return (-t1 * v) / (s * s);
}
