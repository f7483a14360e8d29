#include <math.h>
#pragma precisec range(T, 299.99, 300.01)
#pragma precisec range(a, 0.400999, 0.401001)
#pragma precisec range(b, 0.0000426999, 0.0000427001)
#pragma precisec range(N, 995, 1005)
#pragma precisec range(V, 0.095, 0.505)
#pragma precisec rmse(1.51e-08)
double carbonGas(double T, double a, double b, double N, double V) {
    double t = N / V;
    return ((3.5e7 + (a * (t * t))) * (V - (N * b))) - ((1.3806503e-23 * N) * T);
}
