#include <math.h>
#pragma precisec range(x, 0.099999, 0.300001)
#pragma precisec rmse(3.79e-16)
double verhulst(double x) {
    return (4.0 * x) / (1.0 + (x / 1.11));
}
