//! Audit sinks: where record lines are written.
//!
//! A sink takes a batch of complete lines and writes it with as few write
//! calls as it can. A failed write is counted line by line: the lines that did
//! not get out whole are reported as lost ([`SinkError::lines_lost`]), and a
//! line cut off midway is ended before the next batch, so the next record
//! starts a line of its own instead of being glued to half a record.
//!
//! Files are created `0640` and directories `0750` (the owner writes, its
//! group, where log shippers run, reads, other users see nothing) and never
//! opened through a symbolic link.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A sink's failure to write (some of) a batch.
#[derive(Debug)]
pub struct SinkError {
    /// The first error met.
    pub error: io::Error,
    /// Lines of the batch that did not reach the sink whole.
    pub lines_lost: usize,
}

impl std::fmt::Display for SinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({} lines lost)", self.error, self.lines_lost)
    }
}

impl SinkError {
    /// Adds a later failure of the same batch: the first error is kept.
    fn merge(first: Option<Self>, next: Self) -> Option<Self> {
        Some(match first {
            None => next,
            Some(mut first) => {
                first.lines_lost += next.lines_lost;
                first
            }
        })
    }
}

/// A destination for audit lines. Called only from the writer thread.
pub trait Sink: Send {
    /// Writes a batch of complete lines (each ending in `\n`).
    fn write_lines(&mut self, lines: &[u8]) -> Result<(), SinkError>;
    /// Flushes whatever the sink buffers; called after each batch.
    fn flush(&mut self) -> io::Result<()>;
}

/// Writes whole lines to an output, remembering a line a failed write cut off.
#[derive(Debug, Default)]
struct LineOutput {
    /// The last write stopped inside a line: the next one ends it first.
    cut_line: bool,
}

impl LineOutput {
    /// Writes `lines` (complete lines); returns the bytes that reached `out`
    /// (for size accounting, whatever the outcome) and the failure, if any.
    fn write(&mut self, out: &mut impl Write, lines: &[u8]) -> (u64, Result<(), SinkError>) {
        let mut written_extra = 0;
        if self.cut_line {
            // A lone newline ends the half record, which a reader then
            // skips as one malformed line; the next record stays whole.
            if let Err(error) = out.write_all(b"\n") {
                let lines_lost = count_lines(lines);
                return (0, Err(SinkError { error, lines_lost }));
            }
            self.cut_line = false;
            written_extra = 1;
        }
        let mut written = 0;
        let mut failure = None;
        while written < lines.len() {
            match out.write(&lines[written..]) {
                Ok(0) => {
                    failure = Some(io::Error::from(io::ErrorKind::WriteZero));
                    break;
                }
                Ok(n) => written += n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => {
                    failure = Some(err);
                    break;
                }
            }
        }
        let bytes = written_extra + written as u64;
        let Some(error) = failure else {
            return (bytes, Ok(()));
        };
        self.cut_line = written > 0 && lines[written - 1] != b'\n';
        // A line cut off counts as lost: its newline is in the unwritten part.
        let lines_lost = count_lines(&lines[written..]);
        (bytes, Err(SinkError { error, lines_lost }))
    }
}

fn count_lines(lines: &[u8]) -> usize {
    lines.iter().filter(|&&b| b == b'\n').count()
}

/// Standard output.
#[derive(Debug, Default)]
pub struct StdoutSink {
    output: LineOutput,
}

impl Sink for StdoutSink {
    fn write_lines(&mut self, lines: &[u8]) -> Result<(), SinkError> {
        self.output.write(&mut io::stdout().lock(), lines).1
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stdout().lock().flush()
    }
}

/// Rotation and retention of a [`FileSink`].
#[derive(Debug, Clone)]
pub struct FileSinkOptions {
    /// Rotate when the file would grow past this many bytes.
    pub max_bytes: u64,
    /// Rotated files kept (`audit.log.1` is the newest); 0 counts as 1.
    pub keep: usize,
    /// Rotated files older than this are deleted.
    pub max_age: Option<Duration>,
}

/// A file with size-based rotation: `path` is current, `path.1` … `path.N` older.
///
/// Unbuffered: the writer thread hands it whole batches, written with one
/// call per file they go to, so a failure is known per line (a buffer would
/// leave unknown which of its lines reached the file).
#[derive(Debug)]
pub struct FileSink {
    path: PathBuf,
    options: FileSinkOptions,
    file: File,
    output: LineOutput,
    size: u64,
}

impl FileSink {
    /// Opens (appending to) `path`.
    pub fn open(path: &Path, options: FileSinkOptions) -> io::Result<Self> {
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            // No access for other users: records name clients and consumers.
            // The group reads (a log shipper in the owner's group).
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o750)
                .create(dir)?;
        }
        let file = open_live(path)?;
        let size = file.metadata()?.len();
        let sink = Self {
            path: path.to_path_buf(),
            options,
            file,
            output: LineOutput::default(),
            size,
        };
        // Not only at the next rotation, which a quiet log may not reach for
        // weeks: files past a lowered `keep` or `max_age` go now.
        sink.enforce_retention();
        Ok(sink)
    }
    /// Whether [`FileSink::open`] would succeed for `path`, found without
    /// creating or changing anything (for `rampart check`): an existing file
    /// must open for appending; for a new one, the nearest existing directory
    /// on its path must let this process create entries (its missing
    /// directories are created by `open`).
    pub fn check(path: &Path) -> io::Result<()> {
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.is_symlink() => Err(symlink_refused()),
            Ok(meta) if meta.is_dir() => Err(io::Error::other("is a directory")),
            Ok(meta) if meta.is_file() => OpenOptions::new().append(true).open(path).map(drop),
            // A FIFO or a device (`/dev/null`): opening a FIFO would wait
            // for a reader, so only whether it may be written is asked.
            Ok(_) => {
                rustix::fs::access(path, rustix::fs::Access::WRITE_OK).map_err(io::Error::from)
            }
            Err(err) if is_missing(&err) => check_creatable(path).map_err(|e| e.unwrap_or(err)),
            Err(err) => Err(err),
        }
    }

    fn rotated(&self, n: usize) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    /// Moves the current file aside (dropping the oldest kept one) and starts
    /// a new one. A current file someone else removed or renamed counts as
    /// moved already: the kept files stay as they are. Whatever fails, the
    /// size starts over, so a failed rotation is not tried again for every
    /// batch (each try used to drop another kept file), and lines go on to
    /// the file still open.
    fn rotate(&mut self) -> io::Result<()> {
        self.size = 0;
        if std::fs::symlink_metadata(&self.path).is_ok() {
            // Shift path.(n) -> path.(n+1), dropping the oldest. At least
            // one is kept: deleting the current file would lose the records
            // a shipper tailing it has not read yet.
            let keep = self.options.keep.max(1);
            let _ = std::fs::remove_file(self.rotated(keep));
            for n in (1..keep).rev() {
                let from = self.rotated(n);
                if from.exists() {
                    std::fs::rename(&from, self.rotated(n + 1))?;
                }
            }
            std::fs::rename(&self.path, self.rotated(1))?;
        }
        self.enforce_retention();
        self.file = open_live(&self.path)?;
        // The new file starts empty: no half line to end in it.
        self.output.cut_line = false;
        Ok(())
    }
}

impl FileSink {
    /// Deletes this sink's rotated files (`<path>.N`, nothing else in the
    /// directory) numbered past `keep` or older than `max_age`. Best effort:
    /// a file that cannot be read or removed stays, and the next try is at
    /// the next rotation.
    fn enforce_retention(&self) {
        let Some(base) = self.path.file_name() else {
            return;
        };
        let dir = match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let now = SystemTime::now();
        for entry in entries.flatten() {
            let Some(n) = rotation_number(base, &entry.file_name()) else {
                continue;
            };
            let too_old = self.options.max_age.is_some_and(|max_age| {
                entry
                    .metadata()
                    .and_then(|meta| meta.modified())
                    .is_ok_and(|modified| {
                        now.duration_since(modified).unwrap_or_default() > max_age
                    })
            });
            if n > self.options.keep.max(1) || too_old {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// How many bytes of `lines` (whole lines) go to the current file before
    /// the next rotation: 0 if even the first line would grow it past
    /// `max_bytes` (a line longer than that goes alone into an empty file).
    ///
    /// Nearly every batch fits whole, which is known from its length; only a
    /// batch crossing the limit is searched for its last line that fits (a
    /// scan of every byte cost ~1,900 instructions a record).
    fn fitting(&self, lines: &[u8]) -> usize {
        let room = self.options.max_bytes.saturating_sub(self.size);
        let Some(within) = usize::try_from(room)
            .ok()
            .and_then(|room| lines.get(..room))
        else {
            return lines.len();
        };
        match within.iter().rposition(|&b| b == b'\n') {
            Some(last) => last + 1,
            None if self.size == 0 => lines
                .iter()
                .position(|&b| b == b'\n')
                .map_or(lines.len(), |end| end + 1),
            None => 0,
        }
    }
}

impl Sink for FileSink {
    /// One write per file the batch goes to. A failed rotation is reported
    /// after the lines are written to the file still open: they are not lost
    /// with the rotation.
    fn write_lines(&mut self, lines: &[u8]) -> Result<(), SinkError> {
        let mut failure = None;
        let mut rest = lines;
        while !rest.is_empty() {
            let fit = self.fitting(rest);
            if fit == 0 {
                // Whatever happens, the size starts over: the next pass
                // takes at least one line.
                if let Err(error) = self.rotate() {
                    let lines_lost = 0;
                    failure = SinkError::merge(failure, SinkError { error, lines_lost });
                }
                continue;
            }
            let (now, later) = rest.split_at(fit);
            let (bytes, result) = self.output.write(&mut self.file, now);
            self.size += bytes;
            if let Err(error) = result {
                failure = SinkError::merge(failure, error);
            }
            rest = later;
        }
        failure.map_or(Ok(()), Err)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Opens the live file for appending, created `0640` (records name clients
/// and consumers: the owner's group may read them, other users may not), and never through a symbolic link (`O_NOFOLLOW`): a link
/// planted where the log goes would have records appended to, or a file
/// created at, whatever it points to.
fn open_live(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits().cast_signed())
        .open(path)
        .map_err(|err| match std::fs::symlink_metadata(path) {
            // ELOOP says only "too many levels of symbolic links".
            Ok(meta) if meta.is_symlink() => symlink_refused(),
            _ => err,
        })
}

fn symlink_refused() -> io::Error {
    io::Error::other(
        "is a symbolic link, which is not followed (use the stdout sink for standard output)",
    )
}

/// `N` if `name` is `<base>.N` as a rotation names it (`N` from 1, in
/// digits without sign or leading zero); `audit.log.1.gz` or `audit.log.01`
/// are someone else's.
fn rotation_number(base: &std::ffi::OsStr, name: &std::ffi::OsStr) -> Option<usize> {
    let suffix = name
        .as_encoded_bytes()
        .strip_prefix(base.as_encoded_bytes())?
        .strip_prefix(b".")?;
    if suffix.first().is_none_or(|&b| b == b'0') || !suffix.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(suffix).ok()?.parse().ok()
}

/// Not found, or a file where a directory should be (ENOTDIR).
fn is_missing(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

/// Whether [`FileSink::open`] could create `path` (missing directories
/// included): the nearest existing directory on its way must let this process
/// create entries. `Err(None)`: no ancestor exists at all.
fn check_creatable(path: &Path) -> Result<(), Option<io::Error>> {
    // `a/b.log`'s ancestors are `a` and `` (the working directory).
    for dir in path.ancestors().skip(1) {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        match std::fs::metadata(dir) {
            Ok(meta) if meta.is_dir() => {
                use rustix::fs::{Access, access};
                return access(dir, Access::WRITE_OK | Access::EXEC_OK).map_err(|errno| {
                    Some(io::Error::other(format!(
                        "cannot create it in {}: {}",
                        dir.display(),
                        io::Error::from(errno)
                    )))
                });
            }
            Ok(_) => {
                return Err(Some(io::Error::other(format!(
                    "{} is not a directory",
                    dir.display()
                ))));
            }
            Err(err) if is_missing(&err) => {}
            Err(err) => return Err(Some(err)),
        }
    }
    Err(None)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rampart-sink-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A sink rotating past 100 bytes and keeping 2 files, its directory and
    /// path, and a 40-byte line.
    fn small_sink(name: &str) -> (PathBuf, PathBuf, FileSink, Vec<u8>) {
        let dir = temp_dir(name);
        let path = dir.join("audit.log");
        let options = FileSinkOptions {
            max_bytes: 100,
            keep: 2,
            max_age: None,
        };
        let sink = FileSink::open(&path, options).unwrap();
        let mut line = vec![b'x'; 39];
        line.push(b'\n');
        (dir, path, sink, line)
    }

    #[test]
    fn check_finds_what_open_would_fail_on_and_creates_nothing() {
        let dir = temp_dir("check");
        // A new file in directories still to be made: fine, and none is made.
        let deep = dir.join("a/b/audit.log");
        FileSink::check(&deep).unwrap();
        assert!(!dir.join("a").exists());
        // An existing file opens for appending and is left as it was.
        let existing = dir.join("old.log");
        std::fs::write(&existing, "kept\n").unwrap();
        FileSink::check(&existing).unwrap();
        assert_eq!(std::fs::read_to_string(&existing).unwrap(), "kept\n");
        // A directory, or a file where a directory should be: what `open` refuses.
        assert!(FileSink::check(&dir).is_err());
        let options = || FileSinkOptions {
            max_bytes: 100,
            keep: 1,
            max_age: None,
        };
        assert!(FileSink::open(&dir, options()).is_err());
        let under_file = existing.join("audit.log");
        let error = FileSink::check(&under_file).unwrap_err().to_string();
        assert!(error.ends_with("old.log is not a directory"), "{error}");
        assert!(FileSink::open(&under_file, options()).is_err());
        // A device is checked without opening it (a FIFO would block `check`).
        FileSink::check(Path::new("/dev/null")).unwrap();
        let fifo = dir.join("audit.fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|status| status.success()) {
            FileSink::check(&fifo).unwrap();
        }
    }

    #[test]
    fn rotates_by_size_and_keeps_at_most_keep_files() {
        let (dir, path, mut sink, line) = small_sink("rotate");
        for _ in 0..10 {
            sink.write_lines(&line).unwrap();
        }
        sink.flush().unwrap();
        let size = |p: PathBuf| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        // 10 lines of 40 bytes, 2 per file: current + .1 + .2 kept, .3 never exists.
        assert_eq!(size(path.clone()), 80);
        assert_eq!(size(dir.join("audit.log.1")), 80);
        assert_eq!(size(dir.join("audit.log.2")), 80);
        assert!(!dir.join("audit.log.3").exists());
    }

    #[test]
    fn keep_zero_still_keeps_the_rotated_file() {
        let dir = temp_dir("keep0");
        let path = dir.join("audit.log");
        let options = FileSinkOptions {
            max_bytes: 100,
            keep: 0,
            max_age: None,
        };
        let mut sink = FileSink::open(&path, options).unwrap();
        let mut line = vec![b'x'; 39];
        line.push(b'\n');
        for _ in 0..3 {
            sink.write_lines(&line).unwrap();
        }
        sink.flush().unwrap();
        // The two lines rotated out are in .1, not deleted with the file.
        assert_eq!(std::fs::read(dir.join("audit.log.1")).unwrap().len(), 80);
        assert_eq!(std::fs::read(&path).unwrap().len(), 40);
    }

    #[test]
    fn batches_rotate_between_lines_like_single_lines() {
        let (dir, path, mut sink, line) = small_sink("batch");
        sink.write_lines(&line.repeat(2)).unwrap(); // fits: one write
        sink.write_lines(&line.repeat(3)).unwrap(); // does not: line by line
        sink.flush().unwrap();
        let size = |p: PathBuf| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        // 80 | rotate, 40 + 40 | rotate, 40.
        assert_eq!(size(path.clone()), 40);
        assert_eq!(size(dir.join("audit.log.1")), 80);
        assert_eq!(size(dir.join("audit.log.2")), 80);
    }

    #[test]
    fn a_batch_goes_whole_or_up_to_its_last_line_that_fits() {
        let dir = temp_dir("fitting");
        let options = FileSinkOptions {
            max_bytes: 10,
            keep: 1,
            max_age: None,
        };
        let mut sink = FileSink::open(&dir.join("audit.log"), options).unwrap();
        // Empty file, room 10.
        assert_eq!(sink.fitting(b"ab\ncd\n"), 6);
        assert_eq!(sink.fitting(b"abcd\nefgh\n"), 10, "exactly to the limit");
        assert_eq!(
            sink.fitting(b"abcd\nefghi\n"),
            5,
            "the second line would pass it"
        );
        assert_eq!(sink.fitting(b"abc\nd\nefghijkl\n"), 6);
        // A line longer than the limit goes alone into an empty file.
        assert_eq!(sink.fitting(b"abcdefghijkl\nab\n"), 13);
        assert_eq!(sink.fitting(b"abcdefghijkl\n"), 13);
        // Not into one with lines in it: rotate first.
        sink.size = 4;
        assert_eq!(sink.fitting(b"abcdefghijkl\n"), 0);
        assert_eq!(sink.fitting(b"abcdefg\n"), 0);
        assert_eq!(sink.fitting(b"abcde\n"), 6);
        assert_eq!(sink.fitting(b"ab\ncd\nef\n"), 6);
    }

    #[test]
    fn a_current_file_removed_by_someone_else_costs_no_kept_file() {
        let (dir, path, mut sink, line) = small_sink("removed");
        for _ in 0..6 {
            sink.write_lines(&line).unwrap();
        }
        sink.flush().unwrap();
        let kept = |n: usize| std::fs::read(dir.join(format!("audit.log.{n}"))).ok();
        let (one, two) = (kept(1), kept(2));
        assert!(one.is_some() && two.is_some());
        // `rm audit.log` (or logrotate without `create`).
        std::fs::remove_file(&path).unwrap();
        for _ in 0..5 {
            sink.write_lines(&line).unwrap();
        }
        sink.flush().unwrap();
        // The next rotation started a new current file and kept .1 and .2;
        // it used to fail on every batch, dropping a kept file each time.
        assert_eq!(kept(1), one);
        assert_eq!(kept(2), two);
        let current = std::fs::read(&path).unwrap();
        assert!(!current.is_empty() && current.len() <= 80);
    }

    #[test]
    fn a_failed_rotation_keeps_the_line_and_is_not_retried_per_line() {
        let (dir, path, mut sink, line) = small_sink("failed");
        sink.write_lines(&line.repeat(2)).unwrap();
        // `audit.log.1` as a non-empty directory: the rename onto it fails.
        std::fs::create_dir_all(dir.join("audit.log.1/x")).unwrap();
        std::fs::create_dir_all(dir.join("audit.log.2/x")).unwrap();
        assert!(sink.write_lines(&line).is_err());
        // The line went to the file still open, and the next one does not
        // try (and fail) again.
        sink.write_lines(&line).unwrap();
        sink.flush().unwrap();
        assert_eq!(std::fs::read(&path).unwrap().len(), 4 * line.len());
    }

    /// Accepts `room` bytes, then fails as a full disk does.
    struct FillingUp {
        accepted: Vec<u8>,
        room: usize,
    }

    impl Write for FillingUp {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = buf.len().min(self.room - self.accepted.len());
            if n == 0 {
                return Err(io::Error::from_raw_os_error(28)); // ENOSPC
            }
            self.accepted.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_write_cut_off_counts_its_lost_lines_and_the_next_record_starts_a_line() {
        let mut output = LineOutput::default();
        let mut disk = FillingUp {
            accepted: Vec::new(),
            room: 15,
        };
        // Three 10-byte lines; the disk takes a line and a half.
        let batch = b"record-01\nrecord-02\nrecord-03\n";
        let (bytes, result) = output.write(&mut disk, batch);
        assert_eq!(bytes, 15);
        let failure = result.unwrap_err();
        assert_eq!(failure.lines_lost, 2, "the half line and the one after it");
        assert_eq!(failure.error.raw_os_error(), Some(28));
        // Space again: the half line is ended before the next record.
        disk.room = 1000;
        let (bytes, result) = output.write(&mut disk, b"record-04\n");
        result.unwrap();
        assert_eq!(bytes, 11);
        let text = String::from_utf8(disk.accepted).unwrap();
        assert_eq!(text, "record-01\nrecor\nrecord-04\n");
        // A whole write leaves nothing to end.
        let mut clean = Vec::new();
        output.write(&mut clean, b"record-05\n").1.unwrap();
        assert_eq!(clean, b"record-05\n");
    }

    #[test]
    fn a_full_device_reports_every_line_of_the_batch_lost() {
        let options = FileSinkOptions {
            max_bytes: 100,
            keep: 1,
            max_age: None,
        };
        // Writes to /dev/full fail with ENOSPC.
        let Ok(mut sink) = FileSink::open(Path::new("/dev/full"), options) else {
            return; // no /dev/full on this system
        };
        let failure = sink.write_lines(&b"a\n".repeat(3)).unwrap_err();
        assert_eq!(failure.lines_lost, 3);
        assert_eq!(failure.error.raw_os_error(), Some(28));
    }

    #[test]
    fn new_files_and_directories_are_closed_to_other_users() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir("modes");
        let path = dir.join("logs/audit/audit.log");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let options = FileSinkOptions {
            max_bytes: 10,
            keep: 1,
            max_age: None,
        };
        let mut sink = FileSink::open(&path, options).unwrap();
        assert_eq!(mode(&path), 0o640);
        assert_eq!(mode(&dir.join("logs")), 0o750);
        assert_eq!(mode(&dir.join("logs/audit")), 0o750);
        // The file a rotation starts is private too.
        sink.write_lines(b"0123456789\n").unwrap();
        sink.write_lines(b"0123456789\n").unwrap();
        assert_eq!(mode(&dir.join("logs/audit/audit.log.1")), 0o640);
        assert_eq!(mode(&path), 0o640);
    }

    #[test]
    fn a_symlink_in_place_of_the_file_is_refused() {
        let dir = temp_dir("symlink");
        let target = dir.join("elsewhere");
        std::fs::write(&target, "kept\n").unwrap();
        let path = dir.join("audit.log");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        let options = FileSinkOptions {
            max_bytes: 100,
            keep: 1,
            max_age: None,
        };
        let error = FileSink::open(&path, options).unwrap_err().to_string();
        assert!(error.contains("symbolic link"), "{error}");
        let error = FileSink::check(&path).unwrap_err().to_string();
        assert!(error.contains("symbolic link"), "{error}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "kept\n");
        // A dangling one is not followed to create its target either.
        let dangling = dir.join("dangling.log");
        std::os::unix::fs::symlink(dir.join("created"), &dangling).unwrap();
        let options = FileSinkOptions {
            max_bytes: 100,
            keep: 1,
            max_age: None,
        };
        assert!(FileSink::open(&dangling, options).is_err());
        assert!(!dir.join("created").exists());
    }

    #[test]
    fn retention_applies_when_the_sink_opens() {
        let dir = temp_dir("retention");
        let path = dir.join("audit.log");
        let write = |name: &str| std::fs::write(dir.join(name), "x\n").unwrap();
        let age = |name: &str, days: u64| {
            let when = SystemTime::now() - Duration::from_secs(days * 86_400);
            let file = File::options().write(true).open(dir.join(name)).unwrap();
            file.set_modified(when).unwrap();
        };
        for n in 1..=5 {
            write(&format!("audit.log.{n}"));
        }
        age("audit.log.1", 3);
        // Not rotated files of this sink, however old: left alone.
        let others = [
            "audit.log.05",
            "audit.log.+6",
            "audit.log.6.gz",
            "audit.log.x",
            "audit.log.0",
            "other.log.7",
            "audit.log",
        ];
        for other in others {
            write(other);
            age(other, 30);
        }
        let options = FileSinkOptions {
            max_bytes: 1 << 20,
            keep: 3,
            max_age: Some(Duration::from_secs(86_400)),
        };
        FileSink::open(&path, options).unwrap();
        let exists = |name: &str| dir.join(name).exists();
        assert!(!exists("audit.log.1"), "older than max_age");
        assert!(exists("audit.log.2") && exists("audit.log.3"));
        assert!(
            !exists("audit.log.4") && !exists("audit.log.5"),
            "past keep"
        );
        for other in others {
            assert!(exists(other), "{other}");
        }
        // Without max_age, only the count applies.
        write("audit.log.9");
        let options = FileSinkOptions {
            max_bytes: 1 << 20,
            keep: 3,
            max_age: None,
        };
        FileSink::open(&path, options).unwrap();
        assert!(!exists("audit.log.9"));
        assert!(exists("audit.log.2") && exists("audit.log.3"));
    }

    #[test]
    fn appends_to_an_existing_file() {
        let dir = temp_dir("append");
        let path = dir.join("audit.log");
        std::fs::write(&path, "old\n").unwrap();
        let mut sink = FileSink::open(
            &path,
            FileSinkOptions {
                max_bytes: 1 << 20,
                keep: 1,
                max_age: None,
            },
        )
        .unwrap();
        sink.write_lines(b"new\n").unwrap();
        sink.flush().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old\nnew\n");
    }
}
