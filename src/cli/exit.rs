//! Exit codes.

/// How avault exits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// Done.
    Success,
    /// Something failed; the message says what.
    Failure,
    /// The command line was wrong.
    Usage,
    /// Interrupted at a prompt (Ctrl-C).
    Interrupted,
    /// `exec` found no such command (as a shell says: 127).
    CommandNotFound,
    /// `exec` could not run the command (126).
    CommandNotExecutable,
    /// The exit code of the command `exec` ran in server mode.
    Child(u8),
}

impl ExitStatus {
    /// The numeric code.
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Failure => 1,
            ExitStatus::Usage => 2,
            ExitStatus::Interrupted => 130,
            ExitStatus::CommandNotFound => 127,
            ExitStatus::CommandNotExecutable => 126,
            ExitStatus::Child(code) => code,
        }
    }
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(status: ExitStatus) -> Self {
        std::process::ExitCode::from(status.code())
    }
}

#[cfg(test)]
mod tests {
    use super::ExitStatus;

    #[test]
    fn codes_are_stable() {
        assert_eq!(ExitStatus::Success.code(), 0);
        assert_eq!(ExitStatus::Failure.code(), 1);
        assert_eq!(ExitStatus::Usage.code(), 2);
        assert_eq!(ExitStatus::Interrupted.code(), 130);
        assert_eq!(ExitStatus::CommandNotFound.code(), 127);
        assert_eq!(ExitStatus::CommandNotExecutable.code(), 126);
        assert_eq!(ExitStatus::Child(7).code(), 7);
    }
}
