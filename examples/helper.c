/* A kernel calling a helper twice: the distance between two points on a unit sphere. */
#include <math.h>
#pragma precisec range(lat1, -0.6, 0.6)
#pragma precisec range(lon1, -0.8, 0.8)
#pragma precisec range(lat2, -0.6, 0.6)
#pragma precisec range(lon2, -0.8, 0.8)
#pragma precisec rmse(1e-12)
static double haversin(double t) {
    double s = sin(0.5 * t);
    return s * s;
}

double distance(double lat1, double lon1, double lat2, double lon2) {
    double h = haversin(lat2 - lat1) + cos(lat1) * cos(lat2) * haversin(lon2 - lon1);
    return 2.0 * asin(sqrt(h));
}
