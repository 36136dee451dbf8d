import Foundation

/// Writes a file the user named (`emit --out`, `explain --svg`) without harming anything else:
/// it refuses the timing cache, anything that is not a regular file (a link, a device, a directory)
/// and any existing file nkitune did not write, and it replaces a file atomically (a temporary file
/// in the same directory, renamed into place).
struct OutputFile {
    /// The path given.
    var path: String
    /// Text every file nkitune writes of this kind starts with (or holds in its first line).
    var marker: String
    /// The timing cache, which must never be overwritten.
    var cachePath: String

    /// Writes `text`, or throws a one-line error naming the path and why nothing was written.
    func write(_ text: String) throws {
        var status = stat()
        if lstat(path, &status) == 0 {
            if (status.st_mode & S_IFMT) != S_IFREG {
                throw CLIError("refusing to write \(path): it exists and is not a regular file")
            }
            if isCache(status) { throw CLIError("refusing to write \(path): it is the timing cache") }
            guard ownFile() else {
                throw CLIError("refusing to overwrite \(path): nkitune did not write it (remove it first)")
            }
        }
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent()
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).nkitune-\(getpid())")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
            throw CLIError("cannot write \(path): cannot create a file in \(directory.path)")
        }
        do {
            let handle = try FileHandle(forWritingTo: temporary)
            defer { try? handle.close() }
            try handle.write(contentsOf: Data(text.utf8))
            try handle.synchronize()
            guard rename(temporary.path, path) == 0 else {
                throw CLIError("cannot write \(path): \(String(cString: strerror(errno)))")
            }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            if let error = error as? CLIError { throw error }
            throw CLIError("cannot write \(path): \((error as NSError).localizedDescription)")
        }
    }

    /// Whether the file is the cache or one of its SQLite companions (same device and inode).
    private func isCache(_ status: stat) -> Bool {
        [cachePath, cachePath + "-wal", cachePath + "-shm"].contains { candidate in
            var other = stat()
            return stat(candidate, &other) == 0 && other.st_dev == status.st_dev && other.st_ino == status.st_ino
        }
    }

    private func ownFile() -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: 512)) ?? Data()
        return String(decoding: head, as: UTF8.self).contains(marker)
    }
}
