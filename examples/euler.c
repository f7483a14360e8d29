/* Explicit Euler for a damped Van der Pol-like oscillator, 12 steps of h = 0.05. */
#include <math.h>
#pragma precisec range(x0, -1, 1)
#pragma precisec range(v0, -1, 1)
#pragma precisec range(mu, 0.5, 1.5)
#pragma precisec rmse(1e-9)
double euler(double x0, double v0, double mu) {
    const int steps = 12;
    const double h = 0.05;
    double x = x0;
    double v = v0;
    for (int n = 0; n < steps; n++) {
        double a = mu * (1.0 - x * x) * v - x;
        x = x + h * v;
        v = v + h * a;
    }
    return x * x + v * v;
}
