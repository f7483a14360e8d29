#include <math.h>
#pragma precisec range(u, -125.000000000001, 125.000000000001)
#pragma precisec range(v, 14.999, 25000.001)
#pragma precisec range(T, -40.00001, 60.00001)
#pragma precisec rmse(3.20e-13)
double doppler2(double u, double v, double T) {
    double t1 = 331.4 + (0.6 * T);
    double s = t1 + u;
    return (-t1 * v) / (s * s);
}
