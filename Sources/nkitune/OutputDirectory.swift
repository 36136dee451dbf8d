import Foundation

/// Writes a directory the user named (`export --out`) atomically: every file goes into a
/// temporary directory beside it, which is then renamed into place, so the directory is either the
/// old one or the new one, never half-written. An existing directory is replaced only if nkitune
/// wrote it (it holds the marker file); anything else is refused.
struct OutputDirectory {
    /// The path given.
    var path: String
    /// The file that marks a directory as nkitune's.
    static let marker = ".nkitune-export"

    /// Writes `files` (relative path to text), or throws a one-line error naming the path and why
    /// nothing was changed.
    func write(_ files: [(path: String, text: String)]) throws {
        let manager = FileManager.default
        let url = URL(fileURLWithPath: path).standardizedFileURL
        let parent = url.deletingLastPathComponent()
        var status = stat()
        let exists = lstat(url.path, &status) == 0
        if exists {
            guard (status.st_mode & S_IFMT) == S_IFDIR else {
                throw CLIError("refusing to write \(path): it exists and is not a directory")
            }
            guard manager.fileExists(atPath: url.appendingPathComponent(Self.marker).path) else {
                throw CLIError(
                    "refusing to replace \(path): nkitune did not write it (remove it or choose another --out)")
            }
        }
        if !manager.fileExists(atPath: parent.path) {
            do {
                try manager.createDirectory(at: parent, withIntermediateDirectories: true)
            } catch {
                throw CLIError("cannot write \(path): cannot create \(parent.path)")
            }
        }
        let staging = parent.appendingPathComponent(".\(url.lastPathComponent).nkitune-\(getpid())")
        try? manager.removeItem(at: staging)
        do {
            for (relative, text) in files + [(Self.marker, "written by nkitune export\n")] {
                let file = staging.appendingPathComponent(relative)
                try manager.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
                let handle = try createFile(file)
                defer { try? handle.close() }
                try handle.write(contentsOf: Data(text.utf8))
                try handle.synchronize()
            }
        } catch {
            try? manager.removeItem(at: staging)
            if let error = error as? CLIError { throw error }
            throw CLIError("cannot write \(path): \((error as NSError).localizedDescription); nothing was changed")
        }
        let retired = parent.appendingPathComponent(".\(url.lastPathComponent).old-\(getpid())")
        if exists && rename(url.path, retired.path) != 0 {
            try? manager.removeItem(at: staging)
            throw CLIError("cannot replace \(path): \(String(cString: strerror(errno))); nothing was changed")
        }
        guard rename(staging.path, url.path) == 0 else {
            let reason = String(cString: strerror(errno))
            if exists { _ = rename(retired.path, url.path) }
            try? manager.removeItem(at: staging)
            throw CLIError("cannot write \(path): \(reason); nothing was changed")
        }
        if exists { try? manager.removeItem(at: retired) }
    }

    private func createFile(_ url: URL) throws -> FileHandle {
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw CLIError("cannot write \(path): cannot create \(url.lastPathComponent); nothing was changed")
        }
        return try FileHandle(forWritingTo: url)
    }
}
