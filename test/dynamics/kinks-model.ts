/** A model shared by the tests of flows that stop at relu kinks (step-watch, flow-limits-cli). */

/**
 * A small relu network whose flow crosses kinks from the start: without the watch it ran for
 * more than 200 s (dop853, T = 1), with it it stops at the third collapse of the step size.
 */
export const KINKS = `dim n = 32, d = 4, m = 16
data X : [n, d] = normal(0, 1, seed = 1)
param W : [m, d] ~ normal(0, 1)
param v : [m] ~ normal(0, 1)
def f(x : [d]) = dot(v, relu(W @ x / sqrt(d))) / sqrt(m)
model h = f(X)
loss square(target = X[:, 0] + X[:, 1] * X[:, 2])`;
