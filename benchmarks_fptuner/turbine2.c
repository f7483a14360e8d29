#include <math.h>
#pragma precisec range(v, -4.5000001, -0.2999999)
#pragma precisec range(w, 0.399999999999, 0.900000000001)
#pragma precisec range(r, 3.79999999, 7.80000001)
#pragma precisec rmse(4.13e-14)
double turbine2(double v, double w, double r) {
    double rr = r * r;
    double q = ((w * w) * rr) / (1.0 - v);
    return ((6.0 * v) - ((0.5 * v) * q)) - 2.5;
}
