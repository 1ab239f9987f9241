//! The error type: one variant per MPS result code.

use core::fmt;

use mps_sys::mps_res_t;

/// An MPS result code other than `MPS_RES_OK`.
///
/// Any fallible MPS call may return any code (callers must not rely on a
/// particular one), so match with a wildcard arm; the enum is
/// `#[non_exhaustive]` for the same reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// `MPS_RES_FAIL`: a failure not covered by another code.
    Fail,
    /// `MPS_RES_RESOURCE`: a needed resource (such as address space) is
    /// unavailable.
    Resource,
    /// `MPS_RES_MEMORY`: memory could not be obtained.
    Memory,
    /// `MPS_RES_LIMIT`: an internal limit was reached.
    Limit,
    /// `MPS_RES_UNIMPL`: the operation is not implemented.
    Unimpl,
    /// `MPS_RES_IO`: an input/output error.
    Io,
    /// `MPS_RES_COMMIT_LIMIT`: the arena's commit limit would be exceeded.
    CommitLimit,
    /// `MPS_RES_PARAM`: an invalid parameter.
    Param,
    /// A code this crate does not know (a newer or different MPS).
    Unknown(mps_res_t),
}

impl Error {
    /// The MPS result code.
    pub fn code(self) -> mps_res_t {
        use mps_sys::*;
        let code = match self {
            Error::Fail => MPS_RES_FAIL,
            Error::Resource => MPS_RES_RESOURCE,
            Error::Memory => MPS_RES_MEMORY,
            Error::Limit => MPS_RES_LIMIT,
            Error::Unimpl => MPS_RES_UNIMPL,
            Error::Io => MPS_RES_IO,
            Error::CommitLimit => MPS_RES_COMMIT_LIMIT,
            Error::Param => MPS_RES_PARAM,
            Error::Unknown(code) => return code,
        };
        code as mps_res_t
    }

    /// Turns a result code from a raw MPS call into a `Result`, for code
    /// that calls `mps_sys` directly (for example through
    /// [`Arena::as_raw`](crate::Arena::as_raw)).
    #[inline(always)]
    pub fn check(res: mps_res_t) -> Result<(), Error> {
        check(res)
    }

    /// The error for a result code that is not `MPS_RES_OK`.
    #[cold]
    #[inline(never)]
    fn from_code(res: mps_res_t) -> Error {
        use mps_sys::*;
        match u32::try_from(res) {
            Ok(MPS_RES_FAIL) => Error::Fail,
            Ok(MPS_RES_RESOURCE) => Error::Resource,
            Ok(MPS_RES_MEMORY) => Error::Memory,
            Ok(MPS_RES_LIMIT) => Error::Limit,
            Ok(MPS_RES_UNIMPL) => Error::Unimpl,
            Ok(MPS_RES_IO) => Error::Io,
            Ok(MPS_RES_COMMIT_LIMIT) => Error::CommitLimit,
            Ok(MPS_RES_PARAM) => Error::Param,
            _ => Error::Unknown(res),
        }
    }
}

/// Turns an MPS result code into a `Result`: the one place codes become
/// errors. The error path is the cold [`Error::from_code`].
#[inline(always)]
pub(crate) fn check(res: mps_res_t) -> Result<(), Error> {
    if res == mps_sys::MPS_RES_OK as mps_res_t {
        Ok(())
    } else {
        Err(Error::from_code(res))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Fail => f.write_str("the MPS operation failed"),
            Error::Resource => f.write_str("a resource (such as address space) is unavailable"),
            Error::Memory => f.write_str("memory could not be obtained"),
            Error::Limit => f.write_str("an internal limit of the MPS was reached"),
            Error::Unimpl => f.write_str("the operation is not implemented"),
            Error::Io => f.write_str("an input/output error occurred"),
            Error::CommitLimit => f.write_str("the arena's commit limit would be exceeded"),
            Error::Param => f.write_str("an invalid parameter was passed to the MPS"),
            Error::Unknown(code) => write!(f, "unknown MPS result code {code}"),
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for code in 1..=10 {
            let err = Error::from_code(code);
            assert_eq!(err.code(), code);
            assert!(!err.to_string().is_empty());
        }
        assert_eq!(check(0), Ok(()));
        assert_eq!(check(7), Err(Error::CommitLimit));
        assert_eq!(check(42), Err(Error::Unknown(42)));
    }
}
