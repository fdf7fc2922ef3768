//! Output paths checked before any work: a typo in the last of several output paths must not
//! cost a long computation, and a failed run must not have replaced a good file by then.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// One output of a command: its path and what it holds.
#[derive(Clone, Copy, Debug)]
pub enum Output<'a> {
    /// An image (PNG, TIFF, JPEG or BMP by its extension).
    Image(&'a Path),
    /// A `.npy` file.
    Npy(&'a Path),
    /// A kernel: an image, `.npy` or `.csv` by its extension.
    Kernel(&'a Path),
    /// Any other file (CSV, JSON, text).
    File(&'a Path),
}

impl Output<'_> {
    fn path(&self) -> &Path {
        match self {
            Output::Image(p) | Output::Npy(p) | Output::Kernel(p) | Output::File(p) => p,
        }
    }
}

fn refuse(path: &Path, reason: impl Into<String>) -> Error {
    Error::UnsupportedOutput {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// The folder a file at `path` would be written into.
fn folder(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// `path` with its folder resolved (the file itself need not exist), for comparing paths.
fn resolved(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    std::fs::canonicalize(folder(path))
        .map(|dir| dir.join(&name))
        .unwrap_or_else(|_| path.to_path_buf())
}

/// Checks that a file can be written at `path` (its folder exists and takes a new file, and
/// the path is not a folder, a link, a device or another special file).
///
/// # Errors
/// [`Error::UnsupportedOutput`] naming the path and what is wrong with it.
pub fn check_writable(path: &Path) -> Result<()> {
    if path.as_os_str().is_empty() || path.file_name().is_none() {
        return Err(refuse(path, "an output needs a file name"));
    }
    let dir = folder(path);
    if !dir.is_dir() {
        return Err(refuse(
            path,
            format!(
                "the folder {} does not exist; create it or choose another path",
                dir.display()
            ),
        ));
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => return Err(refuse(path, "is a folder; give a file name")),
        Ok(meta) if !meta.file_type().is_file() => {
            return Err(refuse(
                path,
                "is not a regular file (a link, device or pipe); outputs replace only regular files",
            ));
        }
        _ => {}
    }
    // outputs are written beside their path and renamed over it: the folder must take a file
    // (a read-only or full file system fails here, before the work, not after it)
    tempfile::Builder::new()
        .prefix(".deblur-probe-")
        .tempfile_in(dir)
        .map(drop)
        .map_err(|e| {
            refuse(
                path,
                format!("the folder {} cannot take a new file ({e})", dir.display()),
            )
        })
}

/// Checks every output of a command before it starts: each can be written
/// ([`check_writable`]) in a format its extension names, no two outputs are the same file,
/// and no output is one of the `inputs`.
///
/// # Errors
/// [`Error::UnsupportedOutput`] naming the first bad path.
pub fn check_outputs(inputs: &[&Path], outputs: &[Output<'_>]) -> Result<()> {
    let inputs: Vec<PathBuf> = inputs.iter().map(|p| resolved(p)).collect();
    let mut seen: Vec<PathBuf> = Vec::new();
    for output in outputs {
        let path = output.path();
        check_writable(path)?;
        let extension = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        let image = matches!(
            extension.as_str(),
            "png" | "tif" | "tiff" | "jpg" | "jpeg" | "bmp"
        );
        match output {
            Output::Image(_) if !image => {
                return Err(refuse(
                    path,
                    "unknown image extension; use .png, .tif, .jpg or .bmp",
                ));
            }
            Output::Npy(_) if extension != "npy" => {
                return Err(refuse(path, "this output is a .npy file; name it *.npy"));
            }
            Output::Kernel(_) if !(image || extension == "npy" || extension == "csv") => {
                return Err(refuse(
                    path,
                    "unknown kernel extension; use .png, .tif, .npy or .csv",
                ));
            }
            _ => {}
        }
        let full = resolved(path);
        if inputs.contains(&full) {
            return Err(refuse(
                path,
                "is also an input of this command; write the output to another file",
            ));
        }
        if seen.contains(&full) {
            return Err(refuse(
                path,
                "is named for two outputs; give each its own file",
            ));
        }
        seen.push(full);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_are_checked_before_any_work() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.png");
        std::fs::write(&input, b"x").unwrap();
        let out = dir.path().join("out.png");
        let kernel = dir.path().join("k.npy");
        assert!(check_outputs(&[&input], &[Output::Image(&out), Output::Kernel(&kernel)]).is_ok());
        let message = |r: Result<()>| r.unwrap_err().to_string();
        let missing = dir.path().join("nodir").join("k.png");
        assert!(
            message(check_outputs(&[], &[Output::Kernel(&missing)])).contains("does not exist")
        );
        assert!(message(check_outputs(&[&input], &[Output::Image(&input)])).contains("input"));
        // the same file spelled two ways
        let again = dir.path().join(".").join("out.png");
        assert!(
            message(check_outputs(
                &[],
                &[Output::Image(&out), Output::Kernel(&again)]
            ))
            .contains("two outputs")
        );
        assert!(message(check_outputs(&[], &[Output::Image(dir.path())])).contains("folder"));
        let txt = dir.path().join("out.txt");
        assert!(message(check_outputs(&[], &[Output::Image(&txt)])).contains("extension"));
        #[cfg(unix)]
        {
            let link = dir.path().join("link.png");
            std::os::unix::fs::symlink(&input, &link).unwrap();
            assert!(message(check_outputs(&[], &[Output::Image(&link)])).contains("regular"));
            assert!(
                message(check_outputs(&[], &[Output::Image(Path::new("/dev/null"))]))
                    .contains("regular")
            );
            // a folder that takes no file (procfs refuses new files, even to root), and the
            // probe leaves nothing behind in one that does
            assert!(
                message(check_outputs(
                    &[],
                    &[Output::Image(Path::new("/proc/out.png"))]
                ))
                .contains("cannot take a new file")
            );
            let before = std::fs::read_dir(dir.path()).unwrap().count();
            check_writable(&out).unwrap();
            assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), before);
        }
    }
}
