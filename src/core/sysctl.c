/*
 * Linux's TCP sysctls, held per stack (sysctl.h): their stock defaults.
 */
#include <string.h>

#include "core/stack.h"
#include "core/sysctl.h"

void us_sysctl_init(struct ustack *st)
{
	struct us_sysctl *s = &st->sys;
	s->tcp_timestamps = 1;
	s->tcp_sack = 1;
	s->tcp_dsack = 1;
	s->tcp_window_scaling = 1;
	s->tcp_recovery = 1;
	s->tcp_early_retrans = 3;
	s->tcp_frto = 2;
	s->tcp_slow_start_after_idle = 1;
	s->tcp_syncookies = 1;
	s->tcp_moderate_rcvbuf = 1;
	s->tcp_adv_win_scale = 1;
	s->tcp_reordering = 3;
	s->tcp_max_reordering = 300;
	s->tcp_max_syn_backlog = 4096;
	s->tcp_rmem[0] = 4096;
	s->tcp_rmem[1] = 131072;
	s->tcp_rmem[2] = st->cfg.tcp_rmem;
	s->tcp_wmem[0] = 4096;
	s->tcp_wmem[1] = 16384;
	s->tcp_wmem[2] = st->cfg.tcp_wmem;
	s->tcp_keepalive_time = 7200;
	s->tcp_keepalive_intvl = 75;
	s->tcp_keepalive_probes = 9;
	s->tcp_min_snd_mss = 48;
	s->tcp_base_mss = 1024;
	s->tcp_invalid_ratelimit = 500;
	s->tcp_challenge_ack_limit = 2147483647;
	s->tcp_min_rtt_wlen = 300;
	s->tcp_comp_sack_nr = 44;
	strcpy(s->tcp_congestion_control, "cubic");
	s->core_rmem_max = 212992;
}
