@testable import Fooocus
import Testing

/// The Boykov–Kolmogorov max-flow: known small graphs, and random graphs against a plain Edmonds–Karp.
@Suite("Segmentation: max-flow")
struct SegmentationFlowTests {
    /// CLRS's flow network (max flow 23) with s and t as terminal weights: v1…v4 are nodes 0…3.
    @Test func textbookNetwork() {
        let graph = FlowGraph(nodes: 4, edges: 5)
        graph.addTerminalWeights(0, source: 16, sink: 0)
        graph.addTerminalWeights(1, source: 13, sink: 0)
        graph.addTerminalWeights(2, source: 0, sink: 20)
        graph.addTerminalWeights(3, source: 0, sink: 4)
        graph.addEdge(0, 2, capacity: 12, reverse: 0)
        graph.addEdge(1, 0, capacity: 4, reverse: 0)
        graph.addEdge(1, 3, capacity: 14, reverse: 0)
        graph.addEdge(2, 1, capacity: 9, reverse: 0)
        graph.addEdge(3, 2, capacity: 7, reverse: 0)
        #expect(graph.maxFlow() == 23)
        // The minimum cut {s, v1, v2, v4} | {v3, t}: 12 + 7 + 4.
        #expect((0..<4).map(graph.isSource) == [true, true, false, true])
    }

    /// Both terminal weights on one node: the smaller flows straight through.
    @Test func terminalWeightsOnOneNode() {
        let graph = FlowGraph(nodes: 2, edges: 1)
        graph.addTerminalWeights(0, source: 5, sink: 3)
        graph.addTerminalWeights(1, source: 0, sink: 1)
        graph.addTerminalWeights(1, source: 0.5, sink: 0)
        graph.addEdge(0, 1, capacity: 10, reverse: 10)
        // 3 through node 0, 0.5 through node 1, then 0.5 of node 0's remaining 2 over the edge to 1's sink link.
        #expect(graph.maxFlow() == 4)
        // Both sink links are cut (3 + 1); node 1 stays reachable from the source over the unsaturated edge.
        #expect(graph.isSource(0))
        #expect(graph.isSource(1))
    }

    /// A chain whose weakest link is in the middle: the cut falls there.
    @Test func chainCutsAtWeakestLink() {
        let capacities: [Double] = [9, 7, 2, 8, 6]
        let graph = FlowGraph(nodes: 6, edges: 5)
        graph.addTerminalWeights(0, source: 100, sink: 0)
        graph.addTerminalWeights(5, source: 0, sink: 100)
        for (i, c) in capacities.enumerated() { graph.addEdge(i, i + 1, capacity: c, reverse: 0) }
        #expect(graph.maxFlow() == 2)
        #expect((0..<6).map(graph.isSource) == [true, true, true, false, false, false])
    }

    /// A node no terminal reaches ends on the sink side, and no flow moves.
    @Test func isolatedNodes() {
        let graph = FlowGraph(nodes: 3, edges: 1)
        graph.addEdge(0, 1, capacity: 3, reverse: 3)
        #expect(graph.maxFlow() == 0)
        #expect((0..<3).map(graph.isSource) == [false, false, false])
    }

    /// Random graphs (integer capacities, so sums are exact): BK's flow equals Edmonds–Karp's, and the cut it
    /// reports has exactly that capacity.
    @Test(arguments: 0..<60)
    func randomGraphsAgreeWithEdmondsKarp(seed: Int) {
        var random = SplitMix64(seed: UInt64(seed) &* 7919 &+ 1)
        let n = 2 + random.below(seed < 40 ? 12 : 60)
        let edgeCount = random.below(4 * n + 1)
        var sourceCaps = [Double](repeating: 0, count: n)
        var sinkCaps = [Double](repeating: 0, count: n)
        var edges: [(Int, Int, Double, Double)] = []
        for i in 0..<n {
            if random.below(3) == 0 { sourceCaps[i] = Double(random.below(20)) }
            if random.below(3) == 0 { sinkCaps[i] = Double(random.below(20)) }
        }
        for _ in 0..<edgeCount {
            let i = random.below(n), j = random.below(n)
            guard i != j else { continue }
            edges.append((i, j, Double(random.below(15)), random.below(2) == 0 ? 0 : Double(random.below(15))))
        }
        let graph = FlowGraph(nodes: n, edges: edges.count)
        for i in 0..<n { graph.addTerminalWeights(i, source: sourceCaps[i], sink: sinkCaps[i]) }
        for (i, j, c, r) in edges { graph.addEdge(i, j, capacity: c, reverse: r) }
        let flow = graph.maxFlow()
        let expected = Self.edmondsKarp(n: n, source: sourceCaps, sink: sinkCaps, edges: edges)
        #expect(flow == expected, "seed \(seed): BK \(flow), Edmonds–Karp \(expected)")
        // The capacity of the reported cut: terminal links to sink-side nodes, from source-side nodes to the
        // sink, and edges from the source side to the sink side.
        let side = (0..<n).map(graph.isSource)
        var cut = 0.0
        for i in 0..<n { cut += side[i] ? sinkCaps[i] : sourceCaps[i] }
        for (i, j, c, r) in edges {
            if side[i] && !side[j] { cut += c }
            if side[j] && !side[i] { cut += r }
        }
        #expect(cut == flow, "seed \(seed): cut \(cut) ≠ flow \(flow)")
    }

    /// Edmonds–Karp on an adjacency matrix with explicit source (n) and sink (n + 1).
    static func edmondsKarp(n: Int, source: [Double], sink: [Double], edges: [(Int, Int, Double, Double)]) -> Double {
        let s = n, t = n + 1, size = n + 2
        var capacity = [[Double]](repeating: [Double](repeating: 0, count: size), count: size)
        for i in 0..<n {
            capacity[s][i] += source[i]
            capacity[i][t] += sink[i]
        }
        for (i, j, c, r) in edges {
            capacity[i][j] += c
            capacity[j][i] += r
        }
        var flow = 0.0
        while true {
            var previous = [Int](repeating: -1, count: size)
            previous[s] = s
            var queue = [s]
            var head = 0
            while head < queue.count, previous[t] < 0 {
                let u = queue[head]
                head += 1
                for v in 0..<size where previous[v] < 0 && capacity[u][v] > 0 {
                    previous[v] = u
                    queue.append(v)
                }
            }
            guard previous[t] >= 0 else { return flow }
            var bottleneck = Double.infinity
            var v = t
            while v != s { bottleneck = min(bottleneck, capacity[previous[v]][v]); v = previous[v] }
            v = t
            while v != s {
                capacity[previous[v]][v] -= bottleneck
                capacity[v][previous[v]] += bottleneck
                v = previous[v]
            }
            flow += bottleneck
        }
    }
}
