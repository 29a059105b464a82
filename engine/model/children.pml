/*
 * children.pml: how a step that fans out is woken (engine/src/children.rs, the hand-offs in
 * engine/src/handoff), checked exhaustively by spin: a step starts two children and reads where
 * they stand; if any runs, its hand-off parks it (no lease); each child is claimed, runs and
 * is handed off; the scheduler's sweep wakes parked steps whose children have all finished. A
 * process may crash between a commit and the wake it runs after it (CRASHES, 0 or 1).
 *
 * Every transaction is one atomic step, as in leases.pml. The wake runs after the commit of
 * whatever may have finished the last child: a child's hand-off, and the park itself. It is
 * idempotent, so two of them waking one step is harmless. The fencing of a child's attempts is
 * the tasks' (leases.pml), on the child's row, and is not repeated here.
 *
 * Properties (each assertion is marked `property:`):
 *   all finished     the step runs again only once all its children have finished
 *   no lost wake-up  the step never waits forever (spin's invalid end state), the sweep included
 *   prompt           the sweep, which runs here once every other wake has run, finds a step to
 *                    wake only when a crash lost its wake
 * and spin's own: no invalid end state (which here is the lost wake-up).
 *
 * Known bugs put back with -D: BUG_WAKE_IN_HANDOFF (a child's hand-off looks at its siblings in
 * its own transaction, before it commits, instead of after: two children finishing at once each
 * see the other running), BUG_NO_WAKE_AFTER_PARK (only children wake their step: those that
 * finished while the step was deciding to park are never noticed).
 */

#ifndef CRASHES
#define CRASHES 1
#endif

bit started;            /* the children's rows are there */
bit finished[2];
bit parked;             /* the step's task waits for its children (tasks.awaiting), unleased */
bit due;                /* the step's task is due again */
bit resumed;            /* the step ran again, and found every result */
byte crashes;           /* crashes so far, each between a commit and its wake */
byte settled;           /* processes past the wake after their commit (or its crash) */
#ifdef BUG_WAKE_IN_HANDOFF
bit sibling[2];         /* what each child's hand-off saw of the other */
#endif

#define ALL_FINISHED (finished[0] && finished[1])

/* children::wake: a parked step whose children have all finished is due */
inline wake() {
    atomic {
        if
        :: parked && ALL_FINISHED -> parked = 0; due = 1
        :: !(parked && ALL_FINISHED)    /* not `else`: the first statement of an option */
        fi
    }
}

/* after a commit: its wake, or a crash that loses it */
inline wake_or_crash() {
    if
    :: crashes < CRASHES -> crashes++     /* the process dies before its wake */
    :: wake()
    fi
}

active proctype Step() {
    bit all;
    started = 1;                        /* fan_out: the children, fenced on the lease */
    all = ALL_FINISHED;                 /* the read of where they stand */
    if
    :: all -> resumed = 1; settled++; goto done     /* settled at once: the step goes on */
    :: else
    fi;
    parked = 1;                         /* the hand-off parks the task */
#ifndef BUG_NO_WAKE_AFTER_PARK
    wake_or_crash();
#endif
    settled++;
    due;                                /* the claim of the task, due again */
    atomic {
        assert(ALL_FINISHED);           /* property: all finished */
        resumed = 1
    }
done: skip
}

proctype Child(bit i) {
    started;                            /* claimed, and run */
#ifdef BUG_WAKE_IN_HANDOFF
    sibling[i] = finished[1 - i];       /* the hand-off's snapshot */
    atomic {
        finished[i] = 1;
        if
        :: sibling[i] && parked -> parked = 0; due = 1
        :: else
        fi
    }
#else
    finished[i] = 1;                    /* the hand-off commits */
    wake_or_crash();
#endif
    settled++
}

/* the scheduler's sweep, as the fallback it is: once every wake that was to come has come */
active proctype Sweep() {
end:
    do
    :: atomic {
        settled == 3 && parked && ALL_FINISHED ->
        assert(crashes > 0);            /* property: prompt */
        parked = 0; due = 1
       }
    od
}

init {
    atomic { run Child(0); run Child(1) }
}

