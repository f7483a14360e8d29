#include <math.h>
#pragma precisec range(x1, -5, 5)
#pragma precisec range(x2, -20, 5)
#pragma precisec rmse(2.68e-11)
double jet(double x1, double x2) {
    double t0 = x1 * x1;
    double t1 = t0 * x1;
    double s2 = (((3.0 * t0) + (2.0 * x2)) - x1) / (t0 + 1.0);
    double s30 = (((2.0 * x1) * s2) * (s2 - 3.0)) + (t0 * ((4.0 * s2) - 6.0));
    double s3 = s30 * (t0 + 1.0);
    double r0 = ((s3 + ((3.0 * t0) * s2)) + t1) + x1;
    return x1 + (r0 + (3.0 * s2));
}
