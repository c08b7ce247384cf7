//! What a learner uses between gradings, with rustlings' conventions: the scores so far and
//! the next exercise ([`progress`]), a hint that grows more specific when asked again
//! ([`hint`]), the untouched stub back ([`stub`]), and grading on every save ([`watch`]).

pub mod hint;
pub mod progress;
pub mod stub;
pub mod watch;
