// Run-queue policies: the `scheduler` dimension of a variant. One header per policy
// (sched/<name>.h); the contract every policy meets is SchedulerPolicy (concepts.h):
//   push(S, L, f, kind)  kind = spawned | woken | yielded; caller is L's owner carrier
//   pop(S, L, backstop)  next fiber for L's owner, or nullptr; backstop = the 64-run
//                        maintenance point, where a policy may restore fairness
//   hand_off(L, self)    optional; one carrier only: pop(S, L, false) then push(S, L, self,
//                        yielded) as one step (the yield fast path); nullptr, self not
//                        queued, when nothing else is runnable. Without it the runtime
//                        calls pop and push.
//   steal(S, victim)     take work from another carrier, or nullptr
//   maybe_work(S, L)     cheap hint (may be stale) used before parking
//   stealable(L)         cheap hint (may be stale): a thief could take from L
//   breadth_first        spawned fibers run in spawn order (a spawn tree is alive at once)
// The policies that make variants are listed in variants.def; this header includes the
// built-in ones for code that names them directly.
#pragma once

#include "switchyard/concepts.h"
#include "switchyard/sched/chaselev.h"
#include "switchyard/sched/fifo.h"
