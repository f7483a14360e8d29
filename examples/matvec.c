/* A 6x6 matrix-vector product y = A x into an output array (RMSE over all of y). */
#define N 6
#pragma precisec range(A[], -1, 1)
#pragma precisec range(x[], -2, 2)
#pragma precisec rmse(1e-11)
void matvec(const double A[N][N], const double x[N], double y[N]) {
    for (int i = 0; i < N; i++) {
        double s = 0.0;
        for (int j = 0; j < N; j++) {
            s += A[i][j] * x[j];
        }
        y[i] = s;
    }
}
