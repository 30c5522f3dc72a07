/* stats -- the one instance of the counters; see stats.h. */
#include "stats.h"

qd_stats g_stats;
