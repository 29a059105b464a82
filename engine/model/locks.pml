/*
 * locks.pml: the row-lock order of Slate's engine transactions (engine/src), checked
 * exhaustively by spin: a wrong order shows as a deadlock, an invalid end state (PostgreSQL
 * would break it by aborting one of the transactions).
 *
 * Each of CONNS database connections runs the engine's transactions, one after another, any of
 * them, on any of the rows; what those rows hold is not modelled, so every choice the data
 * would make (is the task there, is it still this lease's, does the run end) is left free, which
 * covers what any workers, runs and steps can do (the 3 workers, 2 runs and 3 steps of
 * leases.pml among them). A transaction is its row-lock requests in the order PostgreSQL makes
 * them, with their modes and PostgreSQL's conflict table; it waits while a request conflicts
 * with a lock another transaction holds, and its commit or rollback frees its locks at once.
 * The world may stop starting transactions at any point: what was running then either ends,
 * or is stuck in a deadlock, which spin reports as an invalid end state.
 *
 * The rows: each run's task (tasks), its run (runs) and the hook's application row (videos).
 *
 *   claim      task::claim            tasks FOR UPDATE SKIP LOCKED (it takes only the rows it
 *                                     can lock at once); then runs: the events' KEY SHARE, or
 *                                     NO KEY UPDATE for a waiting run whose deadline passed;
 *                                     then the hook's videos; in the order the rows came
 *   hand-off   Completer::hand_off    tasks FOR UPDATE in run-id order (the fenced CTE: only
 *              (statement::write)     the items whose lease the row matches); then runs, in
 *                                     either order: KEY SHARE (checkpoints, events, and the
 *                                     result_dropped events of items whose fence failed), NO
 *                                     KEY UPDATE (a run it completes, fails or parks, and the
 *                                     resume of a parked run); then the hook's videos of the
 *                                     items that passed, in the same order
 *   memo       StepContext::memo      tasks FOR SHARE; then KEY SHARE on runs (memos' key)
 *   release    liveness::release      tasks FOR UPDATE in run-id order; then KEY SHARE on
 *                                     runs (events)
 *   rescue     Scheduler::rescue      tasks FOR UPDATE in run-id order; then KEY SHARE on
 *                                     runs (events), in either order
 *   cancel     run::cancel            tasks FOR UPDATE (if it has one); then runs NO KEY
 *                                     UPDATE; then videos; over again if a replay committed
 *                                     in between
 *   replay     run::replay            runs NO KEY UPDATE; then videos (its new task row is no
 *                                     one else's until it commits)
 *   signal     signal::send           tasks FOR UPDATE (if it has one); then KEY SHARE on runs
 *                                     (the signal's and the event's keys); then NO KEY UPDATE
 *                                     of the run if it resumes it
 *
 * A claim that serves limits takes their keys' advisory locks with pg_try_advisory_xact_lock,
 * which never waits, before its rows: it is the claim above.
 * A fork (fork::fork) locks its parent's run FOR SHARE and then only rows no one else sees
 * before it commits, and the parent's checkpoints it shares KEY SHARE, which only a trim's
 * delete of superseded checkpoints (no other lock held) could wait for: it waits for nothing
 * while it holds a lock others may want, so it is left out. A fork in the caller's transaction
 * (fork::fork_using, a video's new version) comes after the caller's locks that no engine
 * transaction takes (a key's row, an advisory lock), and before the caller writes video rows of
 * finished runs: a replay of the parent waits for the fork's FOR SHARE, and a replay of another
 * of the video's runs may make the caller wait for that run's video row, while it waits for
 * nothing the caller holds.
 * A row that a locking read finds changed is re-checked when its lock is granted, and a
 * locking read keeps the lock of a row that fails the re-check; a deleted row is skipped.
 * Starts insert rows no one else sees before they commit, and the heartbeat's read takes no
 * lock: neither can wait here. That includes the start of a webhook delivery by the hook
 * (webhooks::webhook_enqueue), after video_webhook_event has read, without a lock, the video
 * row its own transaction has just written. The workers rows (heartbeat, rescue, registration) are locked
 * by single statements, or last by the rescue, so they are left out.
 *
 * Property: no invalid end state (no deadlock).
 * Known bugs put back with -D: BUG_CANCEL_RUN_FIRST (cancel locks its run FOR UPDATE, then its
 * task, as run::cancel did), BUG_RELEASE_UNORDERED (the release locks its tasks in the order
 * its scan finds them, as liveness::release's plain UPDATE did).
 */

#ifndef CONNS
#define CONNS 3         /* transactions at once */
#endif
#define NR 2            /* runs; run 0's id sorts first */

/* rows: the task, run and video of run r */
#define T(r)            (r)
#define R(r)            (NR + (r))
#define V(r)            (2 * NR + (r))
#define NROWS           (3 * NR)

/* row-lock modes, weakest first */
#define KS 1            /* FOR KEY SHARE (a foreign key's check) */
#define SH 2            /* FOR SHARE */
#define NKU 3           /* FOR NO KEY UPDATE (an UPDATE that leaves the key alone) */
#define FU 4            /* FOR UPDATE (a DELETE too) */

/* the lock table: the mode in which connection c holds row x is bits 3c..3c+2 of locks[x] */
int locks[NROWS];
bit quiet;              /* no transaction starts any more */
bit releasing;          /* a release is running */

/* ---- row locks ---- */

#define HELD(c, x)      ((locks[x] >> (3 * (c))) & 7)
/* PostgreSQL's row-lock conflict table */
#define CONFLICT(a, b)  ((a) != 0 && (b) != 0 && \
                         ((a) == FU || (b) == FU || \
                          ((a) >= SH && (b) >= SH && ((a) == NKU || (b) == NKU))))
#define FREE_OF(c, x, m, o) ((o) == (c) || (o) >= CONNS || !CONFLICT(HELD(o, x), m))
/* may connection c take row x in mode m now? */
#define CAN(c, x, m)    (FREE_OF(c, x, m, 0) && FREE_OF(c, x, m, 1) && FREE_OF(c, x, m, 2) && \
                         FREE_OF(c, x, m, 3) && FREE_OF(c, x, m, 4))

/* waits until c may take row x in mode m, and takes it (if m is stronger than its own) */
#define LOCK(c, x, m) \
    atomic { CAN(c, x, m) -> \
        printf("  conn %d locks %d:%d in mode %d\n", c, (x) / NR, (x) % NR, m); \
        if \
        :: HELD(c, x) < (m) -> locks[x] = (locks[x] & ~(7 << (3 * (c)))) | ((m) << (3 * (c))) \
        :: else \
        fi }

/* the commit or rollback: c's locks are freed (inside a d_step) */
byte lx;                /* scratch of d_steps (0 between steps) */
inline free_locks(c) {
    for (lx : 0 .. NROWS - 1) { locks[lx] = locks[lx] & ~(7 << (3 * (c))) };
    lx = 0
}

#define BOTH            3               /* rows of both runs (bit r: run r) */

/* ---- transactions ---- */

/* the order of two rows where it is not run-id order: either; of one row: that one */
#define PICK_FIRST \
    if \
    :: rows == BOTH -> first = 0 \
    :: rows == BOTH -> first = 1 \
    :: rows != BOTH -> first = (rows == 2) \
    fi
/* some rows: one, the other, or both */
#define PICK_ROWS \
    if \
    :: rows = 1 \
    :: rows = 2 \
    :: rows = BOTH \
    fi

/* task::claim: the due tasks it can lock at once (FOR UPDATE SKIP LOCKED), then the events and
 * the hook's StepStarted, in the order the rows came */
inline claim(c) {
    atomic {
        if
        :: CAN(c, T(0), FU) -> rows = 1
        :: CAN(c, T(1), FU) -> rows = 2
        :: CAN(c, T(0), FU) && CAN(c, T(1), FU) -> rows = BOTH
        :: else -> rows = 0                     /* every due task is locked: none */
        fi;
        PICK_FIRST;
        if
        :: rows & 1 -> locks[T(0)] = locks[T(0)] | (FU << (3 * (c)));
            printf("  conn %d locks 0:0 in mode %d\n", c, FU)
        :: else
        fi;
        if
        :: rows & 2 -> locks[T(1)] = locks[T(1)] | (FU << (3 * (c)));
            printf("  conn %d locks 0:1 in mode %d\n", c, FU)
        :: else
        fi
    }
    if
    :: (rows >> first) & 1 ->
        if
        :: LOCK(c, R(first), KS)
        :: LOCK(c, R(first), NKU)      /* it was waiting: its deadline passed */
        fi
    :: else
    fi;
    if
    :: (rows >> (1 - first)) & 1 ->
        if
        :: LOCK(c, R(1 - first), KS)
        :: LOCK(c, R(1 - first), NKU)
        fi
    :: else
    fi;
    if
    :: (rows >> first) & 1 -> LOCK(c, V(first), NKU)
    :: else
    fi;
    if
    :: (rows >> (1 - first)) & 1 -> LOCK(c, V(1 - first), NKU)
    :: else
    fi
}

/* the fenced CTE's FOR UPDATE (and the rescue's, the release's UPDATE): run r's task row if
 * bit r of `rows`; `pass` keeps the rows whose re-check passed */
#define TASK_LOCK(c, r, m) \
    if \
    :: (rows >> (r)) & 1 -> \
        LOCK(c, T(r), m); \
        if \
        :: pass = pass | (1 << (r)) \
        :: skip                         /* no longer what it asked for */ \
        fi \
    :: else \
    fi

/* Completer::hand_off (statement::write): the items whose lease matched their task row
 * (`rows`) are locked in run-id order and re-checked (`pass`); the items in `stale` failed
 * their fence at once; then runs, NO KEY UPDATE for a run that ends (`ends`), KEY SHARE for
 * the others; then the hook's videos of the items that passed */
inline hand_off(c) {
    atomic {
        PICK_ROWS;                      /* the batch's items, by run */
        PICK_FIRST;                     /* the order of its other writes */
        if                              /* the items whose lease the row no longer matches */
        :: stale = 0
        :: stale = rows & 1
        :: stale = rows & 2
        :: stale = rows
        fi;
        rows = rows & ~stale
    }
    TASK_LOCK(c, 0, FU);
    TASK_LOCK(c, 1, FU);
    atomic {
        if
        :: ends = 0
        :: ends = pass & 1
        :: ends = pass & 2
        :: ends = pass
        fi;
        rows = rows | stale
    }
    if
    :: (rows >> first) & 1 ->
        if
        :: (ends >> first) & 1 -> LOCK(c, R(first), NKU)
        :: else -> LOCK(c, R(first), KS)
        fi
    :: else
    fi;
    if
    :: (rows >> (1 - first)) & 1 ->
        if
        :: (ends >> (1 - first)) & 1 -> LOCK(c, R(1 - first), NKU)
        :: else -> LOCK(c, R(1 - first), KS)
        fi
    :: else
    fi;
    if
    :: (pass >> first) & 1 -> LOCK(c, V(first), NKU)
    :: else
    fi;
    if
    :: (pass >> (1 - first)) & 1 -> LOCK(c, V(1 - first), NKU)
    :: else
    fi
}

/* StepContext::memo's insert: FOR SHARE of the task it must still own, then the memo */
inline memo(c) {
    atomic {
        if
        :: r = 0
        :: r = 1
        fi;
        rows = 1 << r
    }
    TASK_LOCK(c, r, SH);
    if
    :: pass -> LOCK(c, R(r), KS)
    :: else                             /* 0 rows: lease_lost */
    fi
}

/* liveness::release (of orphans, or of all at shutdown): FOR UPDATE of the tasks still its own
 * (re-checked), then their UPDATE and the events. Only the tasks' worker releases them, one batch at a time (the heartbeat
 * has stopped when the shutdown's release runs): two releases never meet on a row. */
inline release(c) {
    atomic {
        !releasing -> releasing = 1;
        PICK_ROWS;
#ifndef BUG_RELEASE_UNORDERED
        first = (rows == 2)             /* run-id order */
#define RELEASE_LOCK FU
#else
        PICK_FIRST                      /* the order its scan finds them in */
#define RELEASE_LOCK NKU                /* its UPDATE's */
#endif
    }
    TASK_LOCK(c, first, RELEASE_LOCK);
    TASK_LOCK(c, 1 - first, RELEASE_LOCK);
    if
    :: (pass >> first) & 1 -> LOCK(c, R(first), KS)
    :: else
    fi;
    if
    :: (pass >> (1 - first)) & 1 -> LOCK(c, R(1 - first), KS)
    :: else
    fi;
    releasing = 0
}

/* Scheduler::rescue: FOR UPDATE of a dead worker's tasks in run-id order, re-checked; then the
 * events, in either order */
inline rescue(c) {
    atomic { PICK_ROWS; PICK_FIRST }
    TASK_LOCK(c, 0, FU);
    TASK_LOCK(c, 1, FU);
    if
    :: (pass >> first) & 1 -> LOCK(c, R(first), KS)
    :: else
    fi;
    if
    :: (pass >> (1 - first)) & 1 -> LOCK(c, R(1 - first), KS)
    :: else
    fi
}

/* run::cancel: FOR UPDATE of the run's task (if it has one), then NO KEY UPDATE of the run, then
 * the hook; refused if the run has ended; over again if the run runs but it locked no task (a
 * replay committed in between) */
inline cancel(c) {
    atomic {
        if
        :: r = 0
        :: r = 1
        fi
    }
    do
    :: true ->
        atomic {
            if
            :: rows = 1 << r            /* it has a task */
            :: rows = 0
            fi
        }
#ifndef BUG_CANCEL_RUN_FIRST
        TASK_LOCK(c, r, FU);
        LOCK(c, R(r), NKU);
#else
        LOCK(c, R(r), FU);              /* its run first, FOR UPDATE */
        TASK_LOCK(c, r, FU);            /* then the DELETE of its task */
#endif
        if
        :: break                        /* refused: the run has ended */
        :: pass -> LOCK(c, V(r), NKU); break
        :: !pass -> d_step { free_locks(c); pass = 0; rows = 0 }   /* replayed meanwhile: again */
        fi
    od;
    rows = 0
}

/* run::replay: NO KEY UPDATE of the run; if it has ended, its new task and the hook */
inline replay(c) {
    atomic {
        if
        :: r = 0
        :: r = 1
        fi
    }
    LOCK(c, R(r), NKU);
    if
    :: LOCK(c, V(r), NKU)
    :: skip                             /* refused: the run still runs */
    fi
}

/* signal::send: FOR UPDATE of the run's task (if it has one), then the signal's and its event's
 * KEY SHARE on the run; then, if the run waited for it, NO KEY UPDATE of the run */
inline signal(c) {
    atomic {
        if
        :: r = 0
        :: r = 1
        fi;
        if
        :: rows = 1 << r
        :: rows = 0                     /* a finished run: refused */
        fi
    }
    TASK_LOCK(c, r, FU);
    LOCK(c, R(r), KS);
    if
    :: pass -> LOCK(c, R(r), NKU)      /* it resumes the run */
    :: skip
    fi
}

/* the commit (or rollback) frees the locks */
#define commit(c)       d_step { free_locks(c); rows = 0; stale = 0; pass = 0; ends = 0; \
                                 first = 0; r = 0 }

/* a database connection: any of the engine's transactions, one after another */
proctype Conn(byte c) {
    unsigned rows : 2;  /* bit r: the transaction asks for run r's task row */
    unsigned stale : 2; /* a hand-off's items that failed their fence at once */
    unsigned pass : 2;  /* bit r: run r's task row passed its re-check */
    unsigned ends : 2;  /* bit r: the hand-off completes or fails run r */
    bit first;          /* the run whose rows come first, where the order is not run-id order */
    bit r;              /* the run of a memo, cancel or replay */
end:
    do
    :: !quiet -> printf("conn %d: claim\n", c); claim(c); commit(c)
    :: !quiet -> printf("conn %d: hand-off\n", c); hand_off(c); commit(c)
    :: !quiet -> printf("conn %d: memo\n", c); memo(c); commit(c)
    :: !quiet -> printf("conn %d: release\n", c); release(c); commit(c)
    :: !quiet -> printf("conn %d: rescue\n", c); rescue(c); commit(c)
    :: !quiet -> printf("conn %d: cancel\n", c); cancel(c); commit(c)
    :: !quiet -> printf("conn %d: replay\n", c); replay(c); commit(c)
    :: !quiet -> printf("conn %d: signal\n", c); signal(c); commit(c)
    od
}

/* the world stops starting transactions, at any point */
active proctype Quiet() {
    quiet = 1
}

init {
    atomic {
        run Conn(0); run Conn(1); run Conn(2)
#if CONNS > 3
        ; run Conn(3)
#endif
    }
}
