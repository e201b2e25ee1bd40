/* OpenMP when the build has it, a serial stand-in otherwise (the build falls
 * back to no OpenMP when the compiler cannot link -fopenmp). */
#ifndef CYDROP_OMP_COMPAT_H
#define CYDROP_OMP_COMPAT_H
#ifdef _OPENMP
#include <omp.h>
#define CYDROP_HAVE_OPENMP 1
#else
#define CYDROP_HAVE_OPENMP 0
static inline int omp_get_max_threads(void) { return 1; }
static inline void omp_set_num_threads(int n) { (void)n; }
static inline int omp_in_parallel(void) { return 0; }
#endif
#endif
