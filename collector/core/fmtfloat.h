/*
 * fmtfloat.h - the shortest decimal digits of a double, as Go's strconv
 * picks them, for the formatters that must print floats as Prometheus does
 * (the API's 'f' form, PromQL's 'g' form, the text exposition).
 */
#ifndef ML_CORE_FMTFLOAT_H
#define ML_CORE_FMTFLOAT_H

#include <limits.h>
#include <stddef.h>

#include "core/buf.h"

/* Room for the digits: at most 17 significant digits and a NUL. */
#define ML_FLOAT_DIGITS 18

/*
 * The fewest significant digits that read back as the finite v, the closest
 * to v when several do (Go's shortest formatting): digits "d1d2..." without
 * sign, point or trailing zeros (NUL-terminated, "0" for zero), and the
 * decimal exponent of d1, so |v| = d1.d2d3... x 10^exp. Returns the number
 * of digits. *neg is v's sign bit (so -0 is negative).
 */
size_t ml_float_digits(double v, char digits[ML_FLOAT_DIGITS], int *exp, int *neg);

/*
 * Appends the finite v in its shortest digits: "d.ddde+XX" (at least two
 * exponent digits) when the exponent is below emin or at least emax, else
 * plain ("123.45", "0.001", zeros padded as needed). emax 0 means the digit
 * count (C's %g). Go's strconv 'g' -1: (-4, 6); 'f' -1: ML_FLOAT_PLAIN.
 */
void ml_float_put(struct ml_buf *b, double v, int emin, int emax);
#define ML_FLOAT_PLAIN INT_MIN, INT_MAX
/* The same into out (n bytes, NUL-terminated, cut if too small). */
void ml_float_format(double v, int emin, int emax, char *out, size_t n);

#endif
