/*
 * signals.pml: waits and signals in Slate's engine (engine/src/signal.rs, the hand-off's park in
 * engine/src/handoff), checked exhaustively by spin: a step that ends by waiting for a signal,
 * two signals sent to its run (with one idempotency key or two), the claim that takes the run's
 * next step when the signal woke it or the wait's deadline passed, and a cancel.
 *
 * As in leases.pml, a transaction that PostgreSQL makes atomic with a row lock is one step, and
 * what must be two (a statement's snapshot, taken before the lock it then waits for) is two.
 * The task row's lock is `lock` (the transaction holding it, or 0): the hand-off's fenced CTE,
 * the signal's first statement and the cancel take it FOR UPDATE and keep it until they end;
 * the claim skips a locked task (SKIP LOCKED). A signal's insert is seen by others once its
 * transaction commits.
 *
 * The hand-off parks the run (the run `waiting`, the task unleased, its `wait` set), and then,
 * in a second statement whose snapshot is taken once the task is locked, consumes a signal that
 * was sent before (signal::resume). The signal's transaction locks the task first, stores the
 * signal (unless its idempotency key names one already stored), and consumes it at once if the
 * run waits for it.
 *
 * Properties (each assertion is marked `property:`):
 *   delivered once   no signal is consumed twice, and one idempotency key stores one signal
 *   no lost wake-up  when nothing can move, the run does not wait while a signal it waits for
 *                    is stored and unconsumed
 *   resumed with it  the step after the wait runs with exactly one signal, or by its deadline
 *   deadline kept    the step after the wait runs without its signal only after the deadline
 * and spin's own: no invalid end state.
 *
 * Known bug put back with -D: BUG_PARK_SNAPSHOT (the park looks for a waiting signal in the
 * hand-off statement's own snapshot, taken before it waited for the task's lock).
 */

#define NSIG 2          /* signals sent */

/* run states */
#define R_RUNNING 1
#define R_WAITING 2
#define R_COMPLETED 3
#define R_CANCELLED 4

/* transactions holding the task's lock */
#define HANDOFF 1
#define SENDER 2
#define CANCEL 3
#define CLAIM 4

byte state = R_RUNNING;
bit task = 1;           /* the run has its task */
bit leased = 1;         /* its task is leased (to the attempt of the step that waits) */
bit waiting;            /* tasks.wait is set */
bit due;                /* its run_at has come: a signal woke it */
bit has_deadline;       /* the wait has a deadline */
bit deadline_passed;
bit expired;            /* the next step was claimed by the wait's deadline */
byte lock;              /* the transaction holding the task row, or 0 */

bit stored[NSIG];       /* the signal's row is committed */
byte consumed[NSIG];    /* how many times it was consumed */
bit same_key;           /* both signals carry one idempotency key */
byte resumed_by = 255;  /* the signal the run resumed with */

/* the oldest stored, unconsumed signal, or NSIG */
#define PENDING (stored[0] && consumed[0] == 0 -> 0 : (stored[1] && consumed[1] == 0 -> 1 : NSIG))

/* consumes signal i: the run resumes with it, and its task is due now */
inline consume(i) {
    consumed[i]++;
    assert(consumed[i] == 1);                   /* property: delivered once */
    resumed_by = i;
    waiting = 0;
    due = 1;
    state = R_RUNNING
}

/* the step that waits hands off: park, then consume a signal that is already there */
active proctype HandOff() {
    byte snapshot;      /* the pending signal the statement's snapshot shows */
    atomic { snapshot = PENDING; if :: has_deadline = 1 :: skip fi }
    atomic {
        lock == 0 -> lock = HANDOFF;
        if
        :: !task || !leased -> lock = 0; goto done     /* fenced: cancelled meanwhile */
        :: else
        fi;
        leased = 0; waiting = 1; state = R_WAITING
    }
    atomic {
#ifdef BUG_PARK_SNAPSHOT
        if
        :: snapshot < NSIG && consumed[snapshot] == 0 -> consume(snapshot)
        :: else
        fi;
#else
        snapshot = PENDING;
        if
        :: snapshot < NSIG -> consume(snapshot)
        :: else
        fi;
#endif
        lock = 0
    }
done: skip
}

/* two signals, one after the other, from Engine::signal */
active proctype Sender() {
    byte i = 0;
    if :: same_key = 1 :: skip fi;
    do
    :: i == NSIG -> break
    :: i < NSIG ->
        atomic {
            lock == 0 || !task ->               /* a missing task locks nothing */
            if :: task -> lock = SENDER :: else fi
        }
        atomic {
            if
            :: state == R_COMPLETED || state == R_CANCELLED -> skip    /* refused: finished */
            :: else ->
                if
                :: i == 1 && same_key -> skip                       /* a duplicate: not stored */
                :: else ->
                    stored[i] = 1;
                    if
                    :: task && waiting && !leased && PENDING == i -> consume(i)
                    :: else
                    fi
                fi
            fi;
            if :: lock == SENDER -> lock = 0 :: else fi
        }
        i++
    od;
    assert(!(same_key && stored[1]))            /* property: delivered once */
}

/* claims of the run's task (FOR UPDATE SKIP LOCKED): due, or its wait's deadline has passed;
 * the step after the wait then runs and completes the run */
active proctype Claimer() {
end:                    /* a run waiting for a signal never sent is never due */
    atomic {
        lock == 0 && task && !leased && (due || (waiting && deadline_passed)) ->
        leased = 1;
        if
        :: waiting ->                                    /* the deadline's path */
            assert(deadline_passed);            /* property: deadline kept */
            expired = 1; state = R_RUNNING
        :: else
        fi;
        /* property: resumed with it */
        assert(expired || (resumed_by < NSIG && consumed[0] + consumed[1] == 1))
    }
    atomic {
        lock == 0 -> task = 0; leased = 0; state = R_COMPLETED
    }
}

/* the wait's deadline passes, at any point */
active proctype Clock() {
end:
    has_deadline -> deadline_passed = 1
}

/* a cancel, at any point, or none */
active proctype Canceller() {
    if
    :: atomic {
        (lock == 0 || !task) && (state == R_RUNNING || state == R_WAITING) ->
        task = 0; leased = 0; waiting = 0; state = R_CANCELLED
       }
    :: skip
    fi
}

/* when nothing can move: no signal waits for a run that waits for it */
active proctype Quiescent() {
    timeout -> assert(!(state == R_WAITING && PENDING < NSIG))  /* property: no lost wake-up */
}
