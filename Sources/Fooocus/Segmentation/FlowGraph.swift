/// A directed graph with source and sink terminals and a Boykov–Kolmogorov max-flow ("An Experimental Comparison
/// of Min-Cut/Max-Flow Algorithms for Energy Minimization in Vision", 2004): two search trees grow from the
/// terminals until they touch, the path found is augmented, and the nodes it cut off are re-adopted or freed.
///
/// Sizes are fixed at creation (the grid of a segmentation is known up front), and the arrays are raw buffers:
/// the search visits every arc many times, and unchecked access keeps it fast in debug builds too. Not thread
/// safe; one graph belongs to one computation.
final class FlowGraph {
    let nodeCount: Int
    let arcLimit: Int
    private(set) var arcCount = 0
    /// The flow found so far (terminal weights add flow that goes straight through a node).
    var flow = 0.0

    // Per node. `terminal` is the residual terminal capacity: > 0 from the source, < 0 to the sink.
    let firstArc: UnsafeMutablePointer<Int32>
    let terminal: UnsafeMutablePointer<Double>
    /// The arc from a node to its parent in its tree, or one of the markers below.
    let parent: UnsafeMutablePointer<Int32>
    let inSinkTree: UnsafeMutablePointer<Bool>
    /// When the distance below was last known to be right (BK's `TS`), and the distance to the terminal.
    let stamp: UnsafeMutablePointer<Int32>
    let distance: UnsafeMutablePointer<Int32>
    let queued: UnsafeMutablePointer<Bool>
    /// The active nodes, a ring buffer: each node is in it at most once, so `nodeCount` slots suffice.
    let active: UnsafeMutablePointer<Int32>
    var activeHead = 0
    var activeCount = 0

    // Per arc; arcs come in pairs, `a ^ 1` is the reverse of `a`.
    let head: UnsafeMutablePointer<Int32>
    let nextArc: UnsafeMutablePointer<Int32>
    let residual: UnsafeMutablePointer<Double>

    /// Parent markers.
    static let free: Int32 = -1
    static let terminalParent: Int32 = -2
    static let orphan: Int32 = -3

    var time: Int32 = 0
    var orphans: [Int32] = []

    /// A graph of `nodes` nodes with room for `edges` edges (each edge is a pair of arcs).
    init(nodes: Int, edges: Int) {
        precondition(nodes >= 0 && edges >= 0 && nodes < Int(Int32.max) && 2 * edges < Int(Int32.max), "graph too large")
        nodeCount = nodes
        arcLimit = 2 * edges
        func buffer<T>(_ count: Int, _ value: T) -> UnsafeMutablePointer<T> {
            let pointer = UnsafeMutablePointer<T>.allocate(capacity: max(count, 1))
            pointer.initialize(repeating: value, count: max(count, 1))
            return pointer
        }
        firstArc = buffer(nodes, -1)
        terminal = buffer(nodes, 0)
        parent = buffer(nodes, Self.free)
        inSinkTree = buffer(nodes, false)
        stamp = buffer(nodes, 0)
        distance = buffer(nodes, 0)
        queued = buffer(nodes, false)
        active = buffer(nodes, 0)
        head = buffer(arcLimit, 0)
        nextArc = buffer(arcLimit, -1)
        residual = buffer(arcLimit, 0)
    }

    deinit {
        for pointer in [firstArc, parent, stamp, distance, active, head, nextArc] as [UnsafeMutablePointer<Int32>] {
            pointer.deallocate()
        }
        terminal.deallocate()
        residual.deallocate()
        inSinkTree.deallocate()
        queued.deallocate()
    }

    /// Adds an edge `i → j` with `capacity` and `j → i` with `reverse` (both ≥ 0).
    func addEdge(_ i: Int, _ j: Int, capacity: Double, reverse: Double) {
        precondition(arcCount + 2 <= arcLimit, "more edges than the graph was made for")
        precondition(i >= 0 && i < nodeCount && j >= 0 && j < nodeCount && i != j, "bad edge \(i) → \(j)")
        precondition(capacity >= 0 && reverse >= 0, "negative capacity")
        let a = arcCount
        head[a] = Int32(j)
        residual[a] = capacity
        nextArc[a] = firstArc[i]
        firstArc[i] = Int32(a)
        head[a + 1] = Int32(i)
        residual[a + 1] = reverse
        nextArc[a + 1] = firstArc[j]
        firstArc[j] = Int32(a + 1)
        arcCount += 2
    }

    /// Adds capacity from the source to `i` and from `i` to the sink (both ≥ 0). Only the difference is kept as a
    /// terminal edge: the smaller part flows source → i → sink at once and is counted in ``flow``.
    func addTerminalWeights(_ i: Int, source: Double, sink: Double) {
        precondition(source >= 0 && sink >= 0, "negative capacity")
        var fromSource = source
        var toSink = sink
        let residual = terminal[i]
        if residual > 0 { fromSource += residual } else { toSink -= residual }
        flow += min(fromSource, toSink)
        terminal[i] = fromSource - toSink
    }

    /// Whether `i` is on the source side of the minimum cut found by ``maxFlow()``: reachable from the source in
    /// the residual graph. Nodes reachable from neither terminal go to the sink side.
    func isSource(_ i: Int) -> Bool {
        parent[i] != Self.free && !inSinkTree[i]
    }

    // MARK: the active queue

    func activate(_ i: Int32) {
        guard !queued[Int(i)] else { return }
        queued[Int(i)] = true
        active[(activeHead + activeCount) % nodeCount] = i
        activeCount += 1
    }

    func nextActive() -> Int32? {
        while activeCount > 0 {
            let i = active[activeHead]
            activeHead = (activeHead + 1) % nodeCount
            activeCount -= 1
            queued[Int(i)] = false
            if parent[Int(i)] != Self.free { return i }
        }
        return nil
    }

    func makeOrphan(_ i: Int32) {
        parent[Int(i)] = Self.orphan
        orphans.append(i)
    }
}
