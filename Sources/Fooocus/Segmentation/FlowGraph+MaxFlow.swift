extension FlowGraph {
    /// Runs the max-flow to completion and returns the total flow (the capacity of the minimum cut).
    /// ``isSource(_:)`` then reads the cut. Call once.
    @discardableResult
    func maxFlow() -> Double {
        for i in 0..<nodeCount {
            if terminal[i] != 0 {
                parent[i] = Self.terminalParent
                inSinkTree[i] = terminal[i] < 0
                stamp[i] = 0
                distance[i] = 1
                activate(Int32(i))
            } else {
                parent[i] = Self.free
            }
        }
        var current: Int32? = nil
        while true {
            // Keep growing from the node that found the last path until it finds no more.
            let node: Int32
            if let kept = current, parent[Int(kept)] != Self.free {
                node = kept
            } else if let next = nextActive() {
                node = next
            } else {
                break
            }
            let meeting = grow(from: node)
            time &+= 1
            if let meeting {
                current = node
                augment(through: meeting)
                adoptOrphans()
            } else {
                current = nil
            }
        }
        return flow
    }

    /// Extends `i`'s tree over its free neighbours through unsaturated arcs; returns the arc (source side → sink
    /// side) where the two trees touch, if they do.
    private func grow(from i: Int32) -> Int32? {
        let sinkSide = inSinkTree[Int(i)]
        var a = firstArc[Int(i)]
        while a >= 0 {
            // Source tree: flow leaves i along a; sink tree: flow enters i along the reverse arc.
            if residual[Int(sinkSide ? a ^ 1 : a)] > 0 {
                let j = Int(head[Int(a)])
                if parent[j] == Self.free {
                    inSinkTree[j] = sinkSide
                    parent[j] = a ^ 1
                    stamp[j] = stamp[Int(i)]
                    distance[j] = distance[Int(i)] + 1
                    activate(Int32(j))
                } else if inSinkTree[j] != sinkSide {
                    return sinkSide ? a ^ 1 : a
                } else if stamp[j] <= stamp[Int(i)] && distance[j] > distance[Int(i)] {
                    // A shorter way to the terminal for j: re-hang it under i (BK's distance heuristic).
                    parent[j] = a ^ 1
                    stamp[j] = stamp[Int(i)]
                    distance[j] = distance[Int(i)] + 1
                }
            }
            a = nextArc[Int(a)]
        }
        return nil
    }

    /// Pushes the bottleneck along source → … → meeting arc → … → sink; nodes whose link to their parent saturates
    /// become orphans.
    private func augment(through middle: Int32) {
        var bottleneck = residual[Int(middle)]
        var k = Int(head[Int(middle ^ 1)])
        while parent[k] != Self.terminalParent {
            let a = Int(parent[k])
            bottleneck = min(bottleneck, residual[a ^ 1])
            k = Int(head[a])
        }
        bottleneck = min(bottleneck, terminal[k])
        k = Int(head[Int(middle)])
        while parent[k] != Self.terminalParent {
            let a = Int(parent[k])
            bottleneck = min(bottleneck, residual[a])
            k = Int(head[a])
        }
        bottleneck = min(bottleneck, -terminal[k])

        residual[Int(middle)] -= bottleneck
        residual[Int(middle ^ 1)] += bottleneck
        // Source side: flow runs parent → child, along the reverse of each parent arc.
        k = Int(head[Int(middle ^ 1)])
        while parent[k] != Self.terminalParent {
            let a = Int(parent[k])
            residual[a] += bottleneck
            residual[a ^ 1] -= bottleneck
            if residual[a ^ 1] == 0 { makeOrphan(Int32(k)) }
            k = Int(head[a])
        }
        terminal[k] -= bottleneck
        if terminal[k] == 0 { makeOrphan(Int32(k)) }
        // Sink side: flow runs child → parent, along each parent arc.
        k = Int(head[Int(middle)])
        while parent[k] != Self.terminalParent {
            let a = Int(parent[k])
            residual[a ^ 1] += bottleneck
            residual[a] -= bottleneck
            if residual[a] == 0 { makeOrphan(Int32(k)) }
            k = Int(head[a])
        }
        terminal[k] += bottleneck
        if terminal[k] == 0 { makeOrphan(Int32(k)) }
        flow += bottleneck
    }

    /// Finds every orphan a new parent in its own tree (one still rooted at the terminal, preferring the one
    /// closest to it), or frees it and orphans its children.
    private func adoptOrphans() {
        var index = 0
        while index < orphans.count {
            let i = orphans[index]
            index += 1
            adopt(i)
        }
        orphans.removeAll(keepingCapacity: true)
    }

    private func adopt(_ orphan: Int32) {
        let i = Int(orphan)
        let sinkSide = inSinkTree[i]
        var best: Int32 = -1
        var bestDistance = Int32.max
        var a = firstArc[i]
        while a >= 0 {
            let j = Int(head[Int(a)])
            // A parent must be in the same tree and able to send (source) or take (sink) flow along the link.
            if parent[j] != Self.free, inSinkTree[j] == sinkSide, residual[Int(sinkSide ? a : a ^ 1)] > 0,
               let d = rootDistance(j), d < bestDistance {
                best = a
                bestDistance = d
            }
            a = nextArc[Int(a)]
        }
        if best >= 0 {
            parent[i] = best
            stamp[i] = time
            distance[i] = bestDistance + 1
            return
        }
        // No valid parent: the node leaves its tree. Neighbours that could reach it become active again (they may
        // grow into it), and its children are orphans now.
        a = firstArc[i]
        while a >= 0 {
            let j = Int(head[Int(a)])
            let p = parent[j]
            if p != Self.free, inSinkTree[j] == sinkSide {
                if residual[Int(sinkSide ? a : a ^ 1)] > 0 { activate(Int32(j)) }
                if p >= 0, Int(head[Int(p)]) == i { makeOrphan(Int32(j)) }
            }
            a = nextArc[Int(a)]
        }
        parent[i] = Self.free
    }

    /// The distance from `j` to its terminal along parent arcs, or nil when the chain ends at an orphan. Marks the
    /// nodes on a valid chain with the current time and their distances, so later walks stop early.
    private func rootDistance(_ j: Int) -> Int32? {
        var d: Int32 = 0
        var k = j
        while true {
            if stamp[k] == time {
                d += distance[k]
                break
            }
            let a = parent[k]
            d += 1
            if a == Self.terminalParent {
                stamp[k] = time
                distance[k] = 1
                break
            }
            if a == Self.orphan || a == Self.free { return nil }
            k = Int(head[Int(a)])
        }
        var mark = j
        var left = d
        while stamp[mark] != time {
            stamp[mark] = time
            distance[mark] = left
            left -= 1
            mark = Int(head[Int(parent[mark])])
        }
        return d
    }
}
