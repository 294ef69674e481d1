//! Exit codes shared by every command.
//!
//! A release pipeline must tell "the answer is no" apart from "the question could
//! not be answered": the first is a finding, the second a broken job to re-run.

/// What a command ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Success, or everything verified.
    Success,
    /// The command worked and the answer is no (a signature was rejected).
    Rejected,
    /// Usage error, unreadable or malformed input, network or server failure.
    Error,
}

impl ExitStatus {
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Rejected => 1,
            ExitStatus::Error => 2,
        }
    }

    /// The status of a batch: an error anywhere outranks a rejection, which
    /// outranks success, so a broken input is never hidden behind a "no".
    pub fn worst(self, other: ExitStatus) -> ExitStatus {
        self.max_rank(other)
    }

    fn rank(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Rejected => 1,
            ExitStatus::Error => 2,
        }
    }

    fn max_rank(self, other: ExitStatus) -> ExitStatus {
        if other.rank() > self.rank() {
            other
        } else {
            self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ExitStatus::*;

    #[test]
    fn error_outranks_rejection_outranks_success() {
        assert_eq!(Success.worst(Rejected), Rejected);
        assert_eq!(Rejected.worst(Success), Rejected);
        assert_eq!(Rejected.worst(Error), Error);
        assert_eq!(Error.worst(Rejected), Error);
        assert_eq!(Success.worst(Success), Success);
        assert_eq!([Success.code(), Rejected.code(), Error.code()], [0, 1, 2]);
    }
}
