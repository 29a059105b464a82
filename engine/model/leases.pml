/*
 * leases.pml: the lease and fencing protocol of Slate's engine (engine/src), checked
 * exhaustively by spin: eager starts, claims, attempts and their memos, the batched hand-off,
 * heartbeats (renewal, orphans), the liveness lock (lost, restored), the scheduler's rescue,
 * cancel, replay, graceful shutdown, crashes and lapsed leases. The lock order of the same
 * transactions is checked by locks.pml.
 *
 * A transaction that PostgreSQL makes atomic with row locks (it locks the task row FOR UPDATE
 * or FOR SHARE and re-checks it) is one step here; a plain read followed by a later action is
 * two. Each process kind is one proctype, and one process stands for all its instances (all
 * workers' completers, say): every step is atomic, so this interleaves them exactly as one
 * process each would, with a smaller state.
 *
 * Leases. An attempt's lease is (run, generation, step, attempt, worker), and every write is
 * fenced on all of it. Attempt numbers are never reused within a run's generation and step
 * (+ 1 at each claim; a kept next step starts a new step at 1), so `attempt = tasks.attempt`,
 * with the rest equal, holds exactly for the attempt that was given the task's current lease,
 * for as long as the task keeps it. The model keeps that bit (Slot.cur) instead of the number:
 * it is set when a slot is given the task's lease, and cleared for every slot of the run when
 * the task's lease changes. Two attempts given the same lease (a bug) both have it set.
 *
 * Bounds: 3 workers, worker 0 with 2 attempt slots (concurrency 2), workers 1 and 2 with 1;
 * 2 runs of 3 steps; 2 tries per step (the retry policy); one memo, in step MEMO_STEP; run 0 is
 * started in worker 0's process (eagerly when that worker takes work), run 1 by a process
 * without a worker. The fault budgets below count per verification run; each fault may happen
 * at any point, and the world may stop making faults at any point, so that every state can
 * settle. verify.sh checks every combination of two faults, one run of pan each (README.md).
 *
 * Properties (each assertion is marked `property:`):
 *   one checkpoint   no step is checkpointed twice in one generation
 *   memo fenced      a memo commits only while its attempt holds the lease, and only once
 *   no run lost      when nothing can move, every run is finished, or due with no worker left
 *   supervised       an attempt running on a live worker has its own entry in `running`
 *   one attempt      no two attempts hold the same lease at once
 * and spin's own: no invalid end state.
 *
 * A child of a step (engine/src/children.rs) is leased, fenced, handed off, released and
 * rescued as a task is, on its own row: the same protocol, which this model checks once; its
 * parent's parking and waking are children.pml's.
 *
 * Known bugs put back with -D: BUG_RUNNING_BY_RUN, BUG_HANDOFF_BY_RUN, BUG_MEMO_UNLOCKED.
 * `./pan -r` (with the budgets the trail was found with) tells a trail's story in its printf
 * lines; `spin -t` cannot, as it does not run the C code that reads the budgets.
 */

#define NW 3            /* workers */
#define NR 2            /* runs */
#define NS 3            /* steps per run */
#define NC 2            /* attempt slots per worker, at most; slot n of worker w is S(w, n) */
#define MEMO_STEP 1     /* the step that memoizes a part, as generating_chunks does */

/* run states (runs.state; R_NONE: not started yet) */
#define R_NONE 0
#define R_RUNNING 1
#define R_COMPLETED 2
#define R_FAILED 3
#define R_CANCELLED 4

/* worker process states */
#define W_UP 0          /* claims, and takes eager starts */
#define W_STOPPING 1    /* shutdown asked: no claims, no eager starts, next steps are queued */
#define W_DOWN 2        /* crashed, or shut down */

/* phases of an attempt slot (worker/attempt.rs), in this order */
#define IDLE 0          /* free */
#define RESERVED 1      /* reserved by an eager start that has not committed yet */
#define SPAWNED 2       /* leased, not registered yet (a late start) */
#define RUNNING 3       /* registered; the step runs */
#define MEMO 4          /* the memo's part ran; its insert is next */
#define MEMO_READ 5     /* BUG_MEMO_UNLOCKED: the insert's check was read, the insert is next */
#define RUN2 6          /* the memo is done (written or reused); the step goes on */
#define QUEUED 7        /* the result waits in the worker's completer queue */
#define NEXT 8          /* told Next, not swapped yet (a late start) */

/* results, as handed off */
#define O_KEEP 1        /* succeeded, the worker keeps the next step (keep_next) */
#define O_QUEUE 2       /* succeeded, the next step is queued (the worker is shutting down,
                         * or the step sleeps or waits: the task is unleased and due later,
                         * which time does not tell apart here; signals.pml models the wait) */
#define O_RETRY 3       /* retryable failure (lease_lost too) */
#define O_PERM 4        /* permanent failure */
#define O_INTR 5        /* interrupted: stopped for the lost lock, and did not succeed */

typedef RunRow {
    unsigned st : 3;    /* R_* */
    bit gen;            /* generation: + 1 at each replay */
    unsigned ckpt : 3;  /* live checkpoints: bit s for step s */
    bit memo;           /* the live memo of step MEMO_STEP (one key) */
}

typedef TaskRow {       /* a run's task: at most one per run */
    bit exists;
    bit gen;
    unsigned step : 2;
    unsigned owner : 2; /* lease_owner: 0 none, w + 1 worker w */
    bit tried;          /* one failure of this step's own was retried (attempt - interrupted) */
    unsigned age : 2;   /* its owner's heartbeat reads that found no attempt of it, at most 2 */
}

typedef WorkerState {
    unsigned st : 2;    /* W_* */
    bit lock;           /* its liveness connection holds the advisory lock on its id */
    bit lost;           /* that connection dropped and the worker has not heard it yet */
    bit lapsed;         /* its registry lease lapsed */
    bit hb;             /* its heartbeat read the tasks it holds and has not reconciled yet */
    unsigned cand : 2;  /* what that read found: bit r, run r's task is an orphan candidate */
}

typedef Slot {          /* an attempt slot and the attempt its driver runs (Shared::drive) */
    unsigned ph : 4;    /* phase */
    bit rid;            /* its lease: run, generation, step (the worker is the slot's) ... */
    bit gen;
    unsigned step : 2;
    bit cur;            /* ... and its attempt is the one the task is leased to */
    bit reg;            /* the worker's `running` table holds its entry */
    bit lost;           /* stopped because its worker lost the liveness lock */
    unsigned out : 3;   /* O_*, while QUEUED */
}

RunRow rn[NR];
TaskRow tk[NR];
WorkerState wk[NW];
Slot dv[NW * NC];
bit reserved;           /* an eager start of run 0 holds a slot of worker 0, not committed yet */

/* What may still happen: the fault budgets of one verification run, for each kind and for all
 * kinds together. pan reads them from its environment when the run starts (verify.sh sets
 * them); a budget left unset is 1 for each kind and 2 in all. */
unsigned crashes : 2;       /* CRASHES: worker processes killed */
unsigned drops : 2;         /* DROPS: liveness connections lost (the worker lives on) */
unsigned lapses : 2;        /* LAPSES: registry leases lapsed (a worker paused or cut off) */
unsigned late_claims : 2;   /* LATE_CLAIMS: claims by a worker whose lease lapsed, before its
                               next heartbeat */
unsigned late_starts : 2;   /* LATE_STARTS: attempts that register late (spawned or told Next,
                               they wait) */
unsigned shutdowns : 2;     /* SHUTDOWNS: graceful shutdowns */
unsigned cancels : 2;       /* CANCELS */
unsigned replays : 2;       /* REPLAYS */
unsigned faults : 3;        /* FAULTS: all kinds together */

c_code {
/* the budget named `kind` in pan's environment, or `unset`; at most 3 (7 in all) */
int budget(const char *kind, int unset) {
    const char *value = getenv(kind);
    int n = value && *value ? atoi(value) : unset;
    int most = strcmp(kind, "FAULTS") == 0 ? 7 : 3;
    return n < 0 ? 0 : n > most ? most : n;
}
}

/* a fault of a kind may happen while both its kind's budget and the total are left */
#define LEFT(kind)      ((kind) > 0 && faults > 0)
inline no_more_faults() {
    crashes = 0; drops = 0; lapses = 0; late_claims = 0; late_starts = 0;
    shutdowns = 0; cancels = 0; replays = 0; faults = 0
}
inline spend(kind) {
    kind--; faults--;
    if
    :: faults == 0 -> no_more_faults()
    :: else
    fi
}

hidden byte i_, j_, k_, r_, x_;     /* scratch of d_steps, not state */
hidden byte fenced[NC];
hidden byte reply[NC];

/* ---- predicates ---- */

#define S(w, n)         ((w) * NC + (n))
#define OWNS(w, r)      (tk[r].exists && tk[r].owner == (w) + 1)
/* the attempt in slot d of worker w holds its lease: the fence of every write it makes */
#define HOLDS(d, w)     (OWNS(w, dv[d].rid) && dv[d].cur)
#define FREE_SLOT(w)    (dv[S(w, 0)].ph == IDLE || ((w) == 0 && dv[S(w, 1)].ph == IDLE))
#define ALIVE(w)        (wk[w].st != W_DOWN)
#define TERMINAL(r)     (rn[r].st >= R_COMPLETED)
#define ALL_DOWN        (wk[0].st == W_DOWN && wk[1].st == W_DOWN && wk[2].st == W_DOWN)

/* slot d's entry of `running` stands for task r: by lease (by run, with the bug); a slot told
 * Next still has its old key */
#ifdef BUG_RUNNING_BY_RUN
#define ENTRY_FOR(d, r) (dv[d].reg && dv[d].rid == (r))
#else
#define ENTRY_FOR(d, r) (dv[d].reg && dv[d].ph != NEXT && dv[d].rid == (r) && dv[d].cur)
#endif
#define HAS_ENTRY(w, r) (ENTRY_FOR(S(w, 0), r) || ENTRY_FOR(S(w, 1), r))
/* a task of w that no entry stands for: its heartbeat ages it, then gives it back */
#define UNRUN(w, r)     (OWNS(w, r) && !HAS_ENTRY(w, r))

/* ---- shared transitions ---- */

/* the task's lease changes: no slot holds it any more */
inline new_lease(r) {
    for (k_ : 0 .. NW * NC - 1) {
        if
        :: dv[k_].rid == r -> dv[k_].cur = 0
        :: else
        fi
    }
}

inline clear_task(r) {
    tk[r].exists = 0; tk[r].gen = 0; tk[r].step = 0;
    tk[r].owner = 0; tk[r].tried = 0; tk[r].age = 0;
    new_lease(r)
}

/* the task is due again: lease_owner = NULL, interrupted + 1 (attempt - interrupted stays) */
inline give_back(r) {
    tk[r].owner = 0; tk[r].age = 0;
    new_lease(r)
}

inline clear_slot(d) {
    dv[d].ph = IDLE; dv[d].rid = 0; dv[d].gen = 0; dv[d].step = 0; dv[d].cur = 0;
    dv[d].reg = 0; dv[d].lost = 0; dv[d].out = 0
}

/* slot d is given task r's current lease */
inline lease_to(d, r) {
    dv[d].rid = r; dv[d].gen = tk[r].gen; dv[d].step = tk[r].step; dv[d].cur = 1
}

/* a free slot of worker w, into x_ */
inline free_slot(w) {
    x_ = (dv[S(w, 0)].ph == IDLE -> S(w, 0) : S(w, 1))
}

/* property one attempt: no other attempt holds slot d's lease */
inline one_attempt(d) {
    for (k_ : 0 .. NW * NC - 1) {
        assert(k_ == d || !dv[d].cur || dv[k_].ph < SPAWNED || dv[k_].rid != dv[d].rid ||
               !dv[k_].cur)   /* property: one attempt */
    }
}

/* property supervised: every attempt running on worker w has its entry in `running` */
inline supervised(w) {
    for (k_ : S(w, 0) .. S(w, NC - 1)) {
        assert(dv[k_].ph < RUNNING || dv[k_].reg)   /* property: supervised */
    }
}

/* Registration: slot d's lease enters `running`, with a new stop token */
inline enter(w, d) {
#ifdef BUG_RUNNING_BY_RUN
    for (j_ : S(w, 0) .. S(w, NC - 1)) {    /* the run's entry is overwritten */
        if
        :: j_ != d && dv[j_].reg && dv[j_].rid == dv[d].rid -> dv[j_].reg = 0
        :: else
        fi
    }
#endif
    dv[d].ph = RUNNING; dv[d].reg = 1; dv[d].lost = 0;
    one_attempt(d);
    supervised(w)
}

/* Registration::drop: the driver ends and its guard removes its key */
inline leave(w, d) {
#ifdef BUG_RUNNING_BY_RUN
    for (j_ : S(w, 0) .. S(w, NC - 1)) {    /* whichever attempt the run's entry is */
        if
        :: j_ != d && dv[j_].reg && dv[j_].rid == dv[d].rid -> dv[j_].reg = 0
        :: else
        fi
    }
#endif
    clear_slot(d);
    supervised(w)
}

/* the worker and all it had in memory are gone (a crash, or the end of a shutdown) */
inline gone(w) {
    wk[w].st = W_DOWN; wk[w].lock = 0; wk[w].lost = 0; wk[w].lapsed = 0;
    wk[w].hb = 0; wk[w].cand = 0;
    clear_slot(S(w, 0)); clear_slot(S(w, 1))
}

/* ---- one state for states that differ only in what is never read again, or in names ---- */

/* What an attempt whose lease is gone still has is dead: every write it makes fails its
 * fence, and nothing reads its run, step, stop or result again (the bug variants that read
 * them keep them; -DKEEP_DEAD=1 keeps them always), nor the age of a task an attempt stands
 * for. */
#ifndef KEEP_DEAD
#if defined(BUG_RUNNING_BY_RUN) || defined(BUG_HANDOFF_BY_RUN)
#define KEEP_DEAD 1
#else
#define KEEP_DEAD 0
#endif
#endif
inline clear_dead() {
    for (k_ : 0 .. NW * NC - 1) {
        if
        :: !KEEP_DEAD && dv[k_].ph >= SPAWNED && !dv[k_].cur && dv[k_].ph != MEMO_READ ->
            dv[k_].rid = 0; dv[k_].gen = 0; dv[k_].step = 0; dv[k_].lost = 0;
            if
            :: dv[k_].ph == MEMO || dv[k_].ph == RUN2 -> dv[k_].ph = RUNNING
            :: dv[k_].ph == QUEUED -> dv[k_].out = O_RETRY
            :: else
            fi
        :: else
        fi
    }
    for (k_ : 0 .. NR - 1) {
        if
        :: !KEEP_DEAD && tk[k_].exists && tk[k_].owner != 0 && !UNRUN(tk[k_].owner - 1, k_) ->
            tk[k_].age = 0
        :: else
        fi
    }
}

/* worker 0's two slots are alike: the greater one first */
#define SLOT_KEY(d)     (dv[d].ph * 1024 + dv[d].rid * 512 + dv[d].gen * 256 + dv[d].step * 64 + \
                         dv[d].cur * 32 + dv[d].reg * 16 + dv[d].lost * 8 + dv[d].out)
inline swap_slots(a, b) {
    x_ = dv[a].ph; dv[a].ph = dv[b].ph; dv[b].ph = x_;
    x_ = dv[a].rid; dv[a].rid = dv[b].rid; dv[b].rid = x_;
    x_ = dv[a].gen; dv[a].gen = dv[b].gen; dv[b].gen = x_;
    x_ = dv[a].step; dv[a].step = dv[b].step; dv[b].step = x_;
    x_ = dv[a].cur; dv[a].cur = dv[b].cur; dv[b].cur = x_;
    x_ = dv[a].reg; dv[a].reg = dv[b].reg; dv[b].reg = x_;
    x_ = dv[a].lost; dv[a].lost = dv[b].lost; dv[b].lost = x_;
    x_ = dv[a].out; dv[a].out = dv[b].out; dv[b].out = x_
}

/* workers 1 and 2 are alike (worker 0 has the eager start and two slots): the greater first */
#define WORKER_KEY(w)   (wk[w].st * 512 + wk[w].lock * 256 + wk[w].lost * 128 + \
                         wk[w].lapsed * 64 + wk[w].hb * 32 + wk[w].cand * 8 +                      \
                         OWNS(w, 0) * 2 + OWNS(w, 1))
#define WORKER_LESS     (WORKER_KEY(1) < WORKER_KEY(2) || (WORKER_KEY(1) == WORKER_KEY(2) && \
                         SLOT_KEY(S(1, 0)) < SLOT_KEY(S(2, 0))))

inline canon() {
    clear_dead();
    if
    :: SLOT_KEY(S(0, 0)) < SLOT_KEY(S(0, 1)) -> swap_slots(S(0, 0), S(0, 1))
    :: else
    fi;
    if
    :: WORKER_LESS ->
        x_ = wk[1].st; wk[1].st = wk[2].st; wk[2].st = x_;
        x_ = wk[1].lock; wk[1].lock = wk[2].lock; wk[2].lock = x_;
        x_ = wk[1].lost; wk[1].lost = wk[2].lost; wk[2].lost = x_;
        x_ = wk[1].lapsed; wk[1].lapsed = wk[2].lapsed; wk[2].lapsed = x_;
        x_ = wk[1].hb; wk[1].hb = wk[2].hb; wk[2].hb = x_;
        x_ = wk[1].cand; wk[1].cand = wk[2].cand; wk[2].cand = x_;
        swap_slots(S(1, 0), S(2, 0));
        for (k_ : 0 .. NR - 1) {
            if
            :: tk[k_].owner == 2 -> tk[k_].owner = 3
            :: tk[k_].owner == 3 -> tk[k_].owner = 2
            :: else
            fi
        }
        printf("  (workers 1 and 2 swap names)\n")
    :: else
    fi;
    x_ = 0
}

/* ---- Starter: Engine::start of run 0 in worker 0's process, of run 1 elsewhere ---- */

#define TAKES_WORK(w)   (wk[w].st == W_UP && wk[w].lock && FREE_SLOT(w))  /* Shared::takes_work */

/* the committed start of run 0 is leased to worker 0 and handed to the slot it reserved
 * (Reservation::hand); a worker that crashed has no slot any more, and one shutting down has
 * closed its inbox (the slot is freed) */
inline commit_eager(late) {
    rn[0].st = R_RUNNING; tk[0].exists = 1; tk[0].owner = 1;
    reserved = 0;
    printf("start of run 0 commits, leased to worker 0\n");
    x_ = (dv[S(0, 0)].ph == RESERVED -> S(0, 0) : S(0, 1));
    if
    :: dv[x_].ph != RESERVED -> skip
    :: dv[x_].ph == RESERVED && wk[0].st != W_UP -> clear_slot(x_)
    :: dv[x_].ph == RESERVED && wk[0].st == W_UP && late ->
        lease_to(x_, 0); spend(late_starts); dv[x_].ph = SPAWNED; one_attempt(x_);
        printf("  handed to worker 0, registers late\n")
    :: dv[x_].ph == RESERVED && wk[0].st == W_UP && !late ->
        lease_to(x_, 0); enter(0, x_)
    fi;
    canon()
}

proctype Starter() {
end:
    do
    :: d_step { rn[0].st == R_NONE && !reserved && !TAKES_WORK(0) ->  /* start::insert: due */
            rn[0].st = R_RUNNING; tk[0].exists = 1; printf("run 0 starts, due\n") }
    :: d_step { rn[0].st == R_NONE && !reserved && TAKES_WORK(0) ->   /* LocalWorkers::reserve */
            free_slot(0); dv[x_].ph = RESERVED; reserved = 1;
            printf("start of run 0 reserves a slot of worker 0\n"); canon() }
    :: d_step { reserved -> commit_eager(0) }      /* Committer::commit, Reservation::hand */
    :: d_step { reserved && LEFT(late_starts) -> commit_eager(1) }
    :: d_step { rn[1].st == R_NONE ->               /* start::insert: due */
            rn[1].st = R_RUNNING; tk[1].exists = 1; printf("run 1 starts, due\n") }
    od
}

/* ---- Claimer: the claim loops (worker/claim.rs) and the end of Worker::run ---- */

/* task::claim, then Shared::spawn: the attempt registers at once, or late */
inline claim(w, r, late) {
    if
    :: wk[w].lapsed -> spend(late_claims)
    :: else
    fi;
    tk[r].owner = (w) + 1; tk[r].age = 0;
    new_lease(r);
    free_slot(w); lease_to(x_, r);
    printf("worker %d claims run %d step %d\n", w, r, tk[r].step);
    if
    :: late -> spend(late_starts); dv[x_].ph = SPAWNED; one_attempt(x_);
        printf("  it registers late\n")
    :: else -> enter(w, x_)
    fi;
    canon()
}
#define CLAIMABLE(w, r) (wk[w].st == W_UP && wk[w].lock && (!wk[w].lapsed || LEFT(late_claims)) && \
                         FREE_SLOT(w) && tk[r].exists && tk[r].owner == 0)
#define CLAIM(w, r) \
    :: d_step { CLAIMABLE(w, r) -> claim(w, r, 0) }                     /* task::claim */          \
    :: d_step { CLAIMABLE(w, r) && LEFT(late_starts) -> claim(w, r, 1) }

/* Worker::run's end, once its attempts are done: liveness::release of all, deregister */
#define DRAINED(w)      (wk[w].st == W_STOPPING && !wk[w].hb && \
                         dv[S(w, 0)].ph <= RESERVED && dv[S(w, 1)].ph <= RESERVED)
#define SHUT(w) \
    :: d_step { DRAINED(w) ->                                                                      \
            printf("worker %d shuts down, gives back its tasks\n", w);                             \
            for (i_ : 0 .. NR - 1) {                                                               \
                if                                                                                 \
                :: OWNS(w, i_) -> give_back(i_)                                                    \
                :: else                                                                            \
                fi                                                                                 \
            };                                                                                     \
            gone(w); canon() }

proctype Claimer() {
end:
    do
    CLAIM(0, 0) CLAIM(0, 1) CLAIM(1, 0) CLAIM(1, 1) CLAIM(2, 0) CLAIM(2, 1)
    SHUT(0) SHUT(1) SHUT(2)
    od
}

/* ---- Driver: the attempt slots, Shared::drive and Shared::execute (worker/attempt.rs) ---- */

#ifndef BUG_MEMO_UNLOCKED
/* StepContext::memo, the insert: locks the task row FOR SHARE and inserts only while the exact
 * lease holds it (ON CONFLICT DO NOTHING); 0 rows is lease_lost */
#define MEMO_INSERT(w, d) \
    :: d_step { dv[d].ph == MEMO ->                                                                \
            if                                                                                     \
            :: HOLDS(d, w) ->                                                                      \
                assert(!rn[dv[d].rid].memo);               /* property: memo fenced */             \
                rn[dv[d].rid].memo = 1; dv[d].ph = RUN2;                                           \
                printf("worker %d writes run %d's memo\n", w, dv[d].rid)                           \
            :: else -> dv[d].out = O_RETRY; dv[d].ph = QUEUED;                                     \
                printf("worker %d: memo insert finds the lease gone\n", w)                         \
            fi;                                                                                    \
            canon() }
#else
/* the bug: the insert checks ownership with a plain read, and commits later on what it read */
#define MEMO_INSERT(w, d) \
    :: d_step { dv[d].ph == MEMO ->                                                                \
            if                                                                                     \
            :: HOLDS(d, w) -> dv[d].ph = MEMO_READ;                                                \
                printf("worker %d: memo insert reads the lease held\n", w)                         \
            :: else -> dv[d].out = O_RETRY; dv[d].ph = QUEUED                                      \
            fi;                                                                                    \
            canon() }                                                                              \
    :: d_step { dv[d].ph == MEMO_READ ->                                                           \
            if                                                                                     \
            :: !rn[dv[d].rid].memo ->                                                              \
                printf("worker %d writes run %d's memo\n", w, dv[d].rid);                          \
                assert(HOLDS(d, w));                       /* property: memo fenced */             \
                rn[dv[d].rid].memo = 1; dv[d].ph = RUN2                                            \
            :: else -> dv[d].out = O_RETRY; dv[d].ph = QUEUED                                      \
            fi;                                                                                    \
            canon() }
#endif

#define ENDS(w, d, o, says) dv[d].out = o; printf(says, w, dv[d].rid, dv[d].step)
#define SAY_OK          "worker %d: run %d step %d succeeds\n"
#define SAY_INTR        "worker %d: run %d step %d is interrupted\n"
#define SAY_RETRY       "worker %d: run %d step %d fails, retryable\n"
#define SAY_PERM        "worker %d: run %d step %d fails for good\n"

#define DRIVE(w, d) \
    :: d_step { dv[d].ph == SPAWNED ->              /* Shared::drive: Registration */              \
            printf("worker %d registers run %d step %d (late)\n", w, dv[d].rid, dv[d].step);       \
            enter(w, d); canon() }                                                                 \
    :: d_step { dv[d].ph == NEXT ->                 /* HandOff::Next: the guard swaps its key */   \
            printf("worker %d swaps to run %d step %d (late)\n", w, dv[d].rid, dv[d].step);        \
            enter(w, d); canon() }                                                                 \
    :: d_step { dv[d].ph == RUNNING && dv[d].step == MEMO_STEP ->  /* StepContext::memo: read */   \
            if                                                                                     \
            :: !HOLDS(d, w) -> dv[d].out = O_RETRY; dv[d].ph = QUEUED;     /* lease_lost */        \
                printf("worker %d: memo read finds the lease gone\n", w)                           \
            :: HOLDS(d, w) && rn[dv[d].rid].memo -> dv[d].ph = RUN2;       /* stored: reused */    \
                printf("worker %d reuses run %d's memo\n", w, dv[d].rid)                           \
            :: HOLDS(d, w) && !rn[dv[d].rid].memo -> dv[d].ph = MEMO;      /* the part runs */     \
                printf("worker %d runs run %d's memoized part\n", w, dv[d].rid)                    \
            fi;                                                                                    \
            canon() }                                                                              \
    MEMO_INSERT(w, d)                                                                              \
    :: atomic { dv[d].ph == RUNNING || dv[d].ph == RUN2 ->  /* Shared::execute; drive sends */     \
            if                                                                                     \
            :: wk[w].st == W_UP -> ENDS(w, d, O_KEEP, SAY_OK)     /* keep_next */                  \
            :: wk[w].st != W_UP -> ENDS(w, d, O_QUEUE, SAY_OK)    /* shutting down */              \
            :: dv[d].lost -> ENDS(w, d, O_INTR, SAY_INTR)         /* stopped: lock lost */         \
            :: !dv[d].lost -> ENDS(w, d, O_RETRY, SAY_RETRY)                                       \
            :: !dv[d].lost -> ENDS(w, d, O_PERM, SAY_PERM)                                         \
            fi;                                                                                    \
            d_step { dv[d].ph = QUEUED; dv[d].lost = 0; canon() } }

proctype Driver() {
end:
    do
    DRIVE(0, 0) DRIVE(0, 1) DRIVE(1, 2) DRIVE(2, 4)
    od
}

/* ---- Completer: Completer::run takes what is queued, a batch of one or two ---- */

/* HAND_OFF for fenced item d (batch place n) of worker w: checkpoint, move the task on or
 * end the run; reply[n] = NEXT when the next step is kept */
inline commit_item(w, d, n) {
    r_ = dv[d].rid;
    if
    :: dv[d].out == O_KEEP || dv[d].out == O_QUEUE ->
        assert(((rn[r_].ckpt >> dv[d].step) & 1) == 0);   /* property: one checkpoint */
        rn[r_].ckpt = rn[r_].ckpt | (1 << dv[d].step);
        if
        :: dv[d].step == NS - 1 -> clear_task(r_); rn[r_].st = R_COMPLETED
        :: else ->
            tk[r_].step = tk[r_].step + 1; tk[r_].tried = 0; tk[r_].age = 0;
            new_lease(r_);
            if
            :: dv[d].out == O_KEEP -> tk[r_].owner = (w) + 1; reply[n] = NEXT  /* attempt 1 */
            :: else -> tk[r_].owner = 0                                          /* attempt 0 */
            fi
        fi
    :: dv[d].out == O_RETRY && !tk[r_].tried -> give_back(r_); tk[r_].tried = 1
    :: dv[d].out == O_PERM || (dv[d].out == O_RETRY && tk[r_].tried) ->
        clear_task(r_); rn[r_].st = R_FAILED
    :: dv[d].out == O_INTR -> give_back(r_)
    fi
}

/* Completer::hand_off of batch m (bit n: slot n of worker w): one transaction
 * (statement::write), then the replies; with `late`, a Next is acted on late */
inline hand_off(w, m, late) {
    for (i_ : 0 .. NC - 1) {    /* the fence, on the rows as the statement found them */
        fenced[i_] = ((((m) >> i_) & 1) && HOLDS(S(w, i_), w));
        reply[i_] = IDLE;
        if
        :: ((m) >> i_) & 1 ->
            printf("worker %d hands off run %d step %d: %d (1 = fenced)\n",
                   w, dv[S(w, i_)].rid, dv[S(w, i_)].step, fenced[i_])
        :: else
        fi
    }
    for (i_ : 0 .. NC - 1) {
        if
        :: fenced[i_] -> commit_item(w, S(w, i_), i_)
        :: else
        fi
    }
#ifdef BUG_HANDOFF_BY_RUN
    for (i_ : 0 .. NC - 1) {    /* the reply asks whether the item's run passed, not the item */
        for (j_ : 0 .. NC - 1) {
            if
            :: (((m) >> i_) & 1) && !fenced[i_] && fenced[j_] &&
               dv[S(w, j_)].rid == dv[S(w, i_)].rid &&
               dv[S(w, i_)].out == O_KEEP && dv[S(w, i_)].step < NS - 1 -> reply[i_] = NEXT
            :: else
            fi
        }
    }
#endif
    for (i_ : 0 .. NC - 1) {    /* reply: Next swaps to the next step's lease; any other ends */
        x_ = S(w, i_);
        if
        :: ((m) >> i_) & 1 && reply[i_] == NEXT ->
            dv[x_].out = 0; dv[x_].step = dv[x_].step + 1;
            dv[x_].cur = (OWNS(w, dv[x_].rid) && tk[dv[x_].rid].gen == dv[x_].gen &&
                          tk[dv[x_].rid].step == dv[x_].step);
            printf("  reply Next: run %d step %d\n", dv[x_].rid, dv[x_].step);
            if
            :: late && LEFT(late_starts) -> spend(late_starts); dv[x_].ph = NEXT; one_attempt(x_)
            :: else -> enter(w, x_)
            fi
        :: ((m) >> i_) & 1 && reply[i_] != NEXT -> leave(w, x_)
        :: else
        fi
    }
    canon()
}

#define QUEUED_AT(w, n) (dv[S(w, n)].ph == QUEUED)
#define COMPLETE(w) \
    :: d_step { QUEUED_AT(w, 0) -> hand_off(w, 1, 0) }               /* Completer::hand_off */     \
    :: d_step { QUEUED_AT(w, 1) -> hand_off(w, 2, 0) }                                             \
    :: d_step { QUEUED_AT(w, 0) && QUEUED_AT(w, 1) -> hand_off(w, 3, 0) }                          \
    :: d_step { LEFT(late_starts) && QUEUED_AT(w, 0) -> hand_off(w, 1, 1) }                        \
    :: d_step { LEFT(late_starts) && QUEUED_AT(w, 1) -> hand_off(w, 2, 1) }                        \
    :: d_step { LEFT(late_starts) && QUEUED_AT(w, 0) && QUEUED_AT(w, 1) -> hand_off(w, 3, 1) }

proctype Completer() {
end:
    do
    COMPLETE(0) COMPLETE(1) COMPLETE(2)
    od
}

/* ---- Heartbeat: Shared::heartbeat (worker/heartbeat.rs) ---- */

/* A beat that would find nothing to do changes nothing, and is not taken: it renews a lapsed
 * lease, and ages, then gives back, a task that no attempt of the worker stands for. The worker
 * keeps the age as the set of leases its previous beat found unrun, not by the date of a lease:
 * that is the start of the transaction that granted it, which may commit after a beat read
 * (the hand-off spanning a beat, in the engine's interleavings tests). A beat
 * also stops the attempts whose lease is gone, as a cancel's notification stops its run's
 * attempt; neither changes anything here (a stopped attempt may still end in any way), and
 * that both can reach every attempt is property supervised. */
#define BEAT(w) \
    :: d_step { ALIVE(w) && !wk[w].hb && (wk[w].lapsed || UNRUN(w, 0) || UNRUN(w, 1)) ->           \
            /* liveness::heartbeat: renews, and reads the leases held (no lock) */                 \
            printf("worker %d heartbeat\n", w);                                                    \
            wk[w].lapsed = 0;                                                                      \
            for (i_ : 0 .. NR - 1) {                                                               \
                if                                                                                 \
                :: UNRUN(w, i_) ->                                                                 \
                    tk[i_].age = (tk[i_].age < 2 -> tk[i_].age + 1 : 2);                           \
                    if                                                                             \
                    :: tk[i_].age == 2 -> wk[w].cand = wk[w].cand | (1 << i_)                      \
                    :: else                                                                        \
                    fi                                                                             \
                :: else                                                                            \
                fi                                                                                 \
            };                                                                                     \
            wk[w].hb = (wk[w].cand != 0); canon() }                                                \
    :: d_step { wk[w].hb ->     /* Shared::reconcile, then liveness::release(orphans) */           \
            for (i_ : 0 .. NR - 1) {    /* fenced: still its own, same attempt, leased before */   \
                if                                                                                 \
                :: ((wk[w].cand >> i_) & 1) && UNRUN(w, i_) && tk[i_].age == 2 ->                  \
                    give_back(i_); printf("worker %d gives back orphan run %d\n", w, i_)           \
                :: else                                                                            \
                fi                                                                                 \
            };                                                                                     \
            wk[w].cand = 0; wk[w].hb = 0; canon() }

proctype Heartbeat() {
end:
    do
    BEAT(0) BEAT(1) BEAT(2)
    od
}

/* ---- Listener: liveness::listen and Shared::on_liveness ---- */

#define LISTEN(w) \
    :: d_step { wk[w].lost ->           /* Signal::Lost: stop every registered attempt */          \
            printf("worker %d hears Lost, stops its attempts\n", w);                               \
            wk[w].lost = 0;                                                                        \
            for (i_ : S(w, 0) .. S(w, NC - 1)) {                                                   \
                if                                                                                 \
                :: dv[i_].reg && dv[i_].ph < QUEUED -> dv[i_].lost = 1                             \
                :: else                                                                            \
                fi                                                                                 \
            };                                                                                     \
            canon() }                                                                              \
    :: d_step { ALIVE(w) && !wk[w].lost && !wk[w].lock ->  /* lock_and_register: Restored */       \
            wk[w].lock = 1; wk[w].lapsed = 0; printf("worker %d retakes its lock\n", w); canon() }

proctype Listener() {
end:
    do
    LISTEN(0) LISTEN(1) LISTEN(2)
    od
}

/* ---- Faults: what the world does to workers; it may stop at any point ---- */

#define FAULTS_AT(w) \
    :: d_step { LEFT(crashes) && ALIVE(w) ->                                                       \
            spend(crashes); gone(w); printf("worker %d crashes\n", w); canon() }                   \
    :: d_step { LEFT(drops) && ALIVE(w) && wk[w].lock ->                                           \
            spend(drops); wk[w].lock = 0; wk[w].lost = 1;                                          \
            printf("worker %d's liveness connection drops (lock free)\n", w); canon() }            \
    :: d_step { LEFT(lapses) && ALIVE(w) && !wk[w].lapsed ->                                       \
            spend(lapses); wk[w].lapsed = 1; printf("worker %d's lease lapses\n", w); canon() }    \
    :: d_step { LEFT(shutdowns) && wk[w].st == W_UP ->                                             \
            spend(shutdowns); wk[w].st = W_STOPPING;                                               \
            printf("worker %d is told to shut down\n", w); canon() }

proctype Faults() {
end:
    do
    FAULTS_AT(0) FAULTS_AT(1) FAULTS_AT(2)
    :: d_step { faults > 0 -> no_more_faults() }
    od
}

/* ---- Scheduler: Scheduler::rescue, dead = lease lapsed or lock free ---- */

#define RESCUE(w) \
    :: d_step { (wk[w].lapsed || !wk[w].lock) && (OWNS(w, 0) || OWNS(w, 1)) ->                     \
            printf("scheduler rescues worker %d's tasks\n", w);                                    \
            for (i_ : 0 .. NR - 1) {                                                               \
                if                                                                                 \
                :: OWNS(w, i_) -> give_back(i_)                                                    \
                :: else                                                                            \
                fi                                                                                 \
            };                                                                                     \
            canon() }

proctype Scheduler() {
end:
    do
    RESCUE(0) RESCUE(1) RESCUE(2)
    od
}

/* ---- Operator: run::cancel, run::replay ---- */

#define CANCEL(r) \
    :: d_step { LEFT(cancels) && rn[r].st == R_RUNNING ->                                          \
            spend(cancels); assert(tk[r].exists); clear_task(r); rn[r].st = R_CANCELLED;           \
            printf("run %d is cancelled\n", r); canon() }
#define REPLAY(r, from) \
    :: d_step { LEFT(replays) && TERMINAL(r) && rn[r].gen == 0 ->                                  \
            spend(replays); assert(!tk[r].exists);                                                 \
            rn[r].gen = 1; rn[r].st = R_RUNNING;                                                   \
            rn[r].ckpt = rn[r].ckpt & ((1 << from) - 1);                                           \
            rn[r].memo = (rn[r].memo && from > MEMO_STEP);                                         \
            tk[r].exists = 1; tk[r].gen = 1; tk[r].step = from;                                    \
            printf("run %d is replayed from step %d\n", r, from); canon() }

proctype Operator() {
end:
    do
    CANCEL(0) CANCEL(1)
    REPLAY(0, 0) REPLAY(0, 1) REPLAY(0, 2) REPLAY(1, 0) REPLAY(1, 1) REPLAY(1, 2)
    od
}

/* property no run lost: when nothing can move, each run is finished, or due with no worker
 * left to take it (a task leased to anyone, live or dead, is lost) */
#define SETTLED(r)      (TERMINAL(r) || (tk[r].exists && tk[r].owner == 0 && ALL_DOWN))
active proctype Settled() {
end:
    timeout;
    assert(SETTLED(0) && SETTLED(1))   /* property: no run lost */
}

init {
    atomic {
        c_code {
            now.crashes = budget("CRASHES", 1); now.drops = budget("DROPS", 1);
            now.lapses = budget("LAPSES", 1); now.late_claims = budget("LATE_CLAIMS", 1);
            now.late_starts = budget("LATE_STARTS", 1); now.shutdowns = budget("SHUTDOWNS", 1);
            now.cancels = budget("CANCELS", 1); now.replays = budget("REPLAYS", 1);
            now.faults = budget("FAULTS", 2);
        };
        wk[0].lock = 1; wk[1].lock = 1; wk[2].lock = 1;
        run Starter(); run Claimer(); run Driver(); run Completer(); run Heartbeat();
        run Listener(); run Faults(); run Scheduler(); run Operator()
    }
}
