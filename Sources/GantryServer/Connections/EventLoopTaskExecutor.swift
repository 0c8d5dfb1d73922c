import NIOCore

/// A task executor that runs jobs on one NIO event loop.
///
/// Hummingbird serves each connection in a task of Swift's cooperative pool and hands every request part across
/// from the channel's event loop to that task and every response part back: two thread hops (and, when the other
/// thread sleeps, two futex wake-ups) per request, which on this two-core machine cost more CPU than the routes.
/// With the connection's task preferring its own event loop, both sides run on one thread and the hand-offs are
/// plain function calls.
///
/// Work on the event loop must not block. Routes only parse, validate and wait; CPU-heavy stages run on `Compute`,
/// file and network transfers on their own threads, and the store's reads are single indexed lookups.
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        eventLoop.execute { job.runSynchronously(on: executor) }
    }
}
