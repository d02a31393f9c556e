//! The senetc command line: loading models, writing outputs atomically, reports.
//! The binary (`main.rs`) parses arguments and maps errors to exit codes.

pub mod load;
pub mod npy;
pub mod numeric;
pub mod output;
pub mod precision;
pub mod progress;
pub mod report;

/// A problem with how senetc was called or with a file it was given to read: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The exit code for an error: 2 for bad usage or unreadable input, 1 for a model that
/// cannot be compiled.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    use senetc_frontends::FrontendError;
    for cause in err.chain() {
        if cause.downcast_ref::<UsageError>().is_some() {
            return 2;
        }
        if let Some(fe) = cause.downcast_ref::<FrontendError>() {
            return match fe {
                FrontendError::Io { .. } | FrontendError::Decode { .. } => 2,
                FrontendError::Unsupported { .. } => 1,
            };
        }
    }
    1
}
