import KernelSpace

/// How the timeline tracks dependencies through one buffer: the buffer is cut into cells, and an
/// access waits only for the earlier accesses of the cells it touches.
///
/// A buffer of rank 3 or more has a cell per index of its second dimension (a block of tiles
/// indexed one at a time). An HBM tensor of rank 2 is cut into at most 8 × 8 blocks whose sides
/// are powers of two, so a load of one part of a tensor (the old rows of a KV cache, the q columns
/// of a projection's row) does not wait for a write to another part. Any other buffer is one
/// cell.
struct CellGrid {
    /// The dimension cut into rows of cells, the log2 of each row's size, and how many rows.
    let rowDimension: Int?
    let rowShift: Int
    let rows: Int
    /// The dimension cut into columns of cells, the log2 of each column's size, and how many.
    let columnDimension: Int?
    let columnShift: Int
    let columns: Int

    /// Cells per copy of the buffer.
    var count: Int { rows * columns }

    init(_ buffer: BufferDecl) {
        let shape = buffer.shape
        if shape.count >= 3 {
            (rowDimension, rowShift, rows) = (nil, 0, 1)
            (columnDimension, columnShift, columns) = (1, 0, shape[1])
        } else if shape.count == 2 && buffer.memory == .hbm {
            (rowShift, columnShift) = (Self.shift(shape[0]), Self.shift(shape[1]))
            (rowDimension, rows) = (0, Self.blocks(shape[0], rowShift))
            (columnDimension, columns) = (1, Self.blocks(shape[1], columnShift))
        } else {
            (rowDimension, rowShift, rows) = (nil, 0, 1)
            (columnDimension, columnShift, columns) = (nil, 0, 1)
        }
    }

    /// The log2 of the smallest power of two that cuts `size` into at most 8 blocks.
    private static func shift(_ size: Int) -> Int {
        var shift = 0
        while blocks(size, shift) > 8 { shift += 1 }
        return shift
    }

    /// Blocks of `1 << shift` elements that cover `size`.
    private static func blocks(_ size: Int, _ shift: Int) -> Int { (size + (1 << shift) - 1) >> shift }
}

/// The cells of one copy of a buffer that an access touches: a block of rows by columns of its
/// ``CellGrid``, numbered row by row from `base`.
struct CellSpan: Sequence, IteratorProtocol {
    let base: Int
    let columnsPerRow: Int
    let rows: Range<Int>
    let columns: Range<Int>
    private var row: Int
    private var column: Int

    init(base: Int, columnsPerRow: Int, rows: Range<Int>, columns: Range<Int>) {
        (self.base, self.columnsPerRow, self.rows, self.columns) = (base, columnsPerRow, rows, columns)
        (row, column) = (rows.lowerBound, columns.lowerBound)
    }

    mutating func next() -> Int? {
        if column == columns.upperBound {
            row += 1
            column = columns.lowerBound
        }
        guard row < rows.upperBound, column < columns.upperBound else { return nil }
        defer { column += 1 }
        return base + row * columnsPerRow + column
    }
}
