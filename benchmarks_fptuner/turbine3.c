#include <math.h>
#pragma precisec range(v, -4.5000001, -0.2999999)
#pragma precisec range(w, 0.399999999999, 0.900000000001)
#pragma precisec range(r, 3.79999999, 7.80000001)
#pragma precisec rmse(1.73e-14)
double turbine3(double v, double w, double r) {
    double rr = r * r;
    double q = ((w * w) * rr) / (1.0 - v);
    return ((3.0 - (2.0 / rr)) - ((0.125 * (1.0 + (2.0 * v))) * q)) - 0.5;
}
