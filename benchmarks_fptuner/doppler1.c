#include <math.h>
#pragma precisec range(u, -100.0000001, 100.0000001)
#pragma precisec range(v, 19.999999999, 20000.000000001)
#pragma precisec range(T, -30.000001, 50.000001)
#pragma precisec rmse(1.82e-13)
double doppler1(double u, double v, double T) {
    double t1 = 331.4 + (0.6 * T);
    double s = t1 + u;
    return (-t1 * v) / (s * s);
}
