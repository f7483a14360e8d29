#include <math.h>
#pragma precisec range(x, -2, 2)
#pragma precisec rmse(1.17e-15)
double sineOrder3(double x) {
    double x2 = x * x;
    double x3 = x2 * x;
    return (0.954929658551372 * x) - (0.12900613773279798 * x3);
}
