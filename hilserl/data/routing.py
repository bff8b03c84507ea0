"""Where a transition goes, exactly as the HIL-SERL paper says.

"The policy's transitions (i.e., states and actions before and after the intervention)" go only to
the RL (online) buffer; intervention transitions go to both the online and the demo buffer. This is
what keeps long human takeovers from inflating the value of the policy's own states.
"""

from __future__ import annotations

from typing import Protocol

from hilserl.data.transition import Transition


class Sink(Protocol):
    def add_transition(self, transition: Transition) -> None: ...


def route(transition: Transition, online: Sink, demo: Sink) -> None:
    online.add_transition(transition)
    if transition.intervened:
        demo.add_transition(transition)
