/* A float kernel: a smoothed sum over a float array (single-precision baseline). */
#define N 8
#pragma precisec range(w[], 0, 1)
#pragma precisec range(a, 0.5, 2)
#pragma precisec rmse(2e-6)
float smooth(float a, const float w[N]) {
    float s = 0.0f;
    for (int i = 0; i < N; i++) {
        float t = a * w[i] + 1.0f;
        s += t / (1.0f + w[i] * w[i]);
    }
    return s;
}
