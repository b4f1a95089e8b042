//! A 200 MB attachment is captured, checked and uploaded with a bounded amount of memory.
//!
//! This test binary counts every heap allocation with its own global allocator, so it contains
//! this one test only: another test running at the same time would add its allocations.

mod panic_support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use panic_support::{device_config, start_server};
use vigil_core::model::{Incident, Severity};
use vigil_core::store::SyncState;
use vigil_core::{AttachmentFile, Vigil};

/// The system allocator, counting the bytes allocated now and the most at any time.
struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the layout is passed on unchanged to the system allocator.
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: `pointer` was allocated by `alloc` above with this layout.
        unsafe { System.dealloc(pointer, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const FILE_BYTES: u64 = 200 * 1024 * 1024;

/// Starts a new measurement and returns the bytes allocated at its start.
fn start_measuring() -> usize {
    let now = CURRENT.load(Ordering::Relaxed);
    PEAK.store(now, Ordering::Relaxed);
    now
}

/// Returns the most bytes allocated above `baseline` since [`start_measuring`].
fn peak_above(baseline: usize) -> usize {
    PEAK.load(Ordering::Relaxed).saturating_sub(baseline)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_attachment_uses_bounded_memory() {
    let server_folder = tempfile::tempdir().unwrap();
    let device_folder = tempfile::tempdir().unwrap();
    let server = start_server(server_folder.path(), "127.0.0.1:0".parse().unwrap()).await;
    let device =
        Vigil::open(device_folder.path().join("device.db"), device_config(&server.url())).unwrap();
    // A sparse file: 200 MB to read, no disk space taken.
    let video = device_folder.path().join("clip.mp4");
    std::fs::File::create(&video).unwrap().set_len(FILE_BYTES).unwrap();
    let incident = Incident {
        category: "intrusion".into(),
        severity: Severity::High,
        text: "Fence cut".into(),
    };
    let attachment = AttachmentFile { path: video, media_type: "video/mp4".into() };

    let baseline = start_measuring();
    let capturing = tokio::task::spawn_blocking({
        let device = device.clone();
        move || device.log_incident_with_attachments(incident, vec![attachment])
    });
    let record = capturing.await.unwrap().unwrap();
    let capture_peak = peak_above(baseline);

    let baseline = start_measuring();
    device.sync_now().await.unwrap();
    let upload_peak = peak_above(baseline);

    println!("peak heap above the start: capture {capture_peak} bytes, upload {upload_peak} bytes");
    assert_eq!(record.attachments[0].size_bytes, FILE_BYTES);
    assert_eq!(device.store().record(record.id).unwrap().1, SyncState::Acknowledged);
    let stored = server.store().unwrap().attachment(record.attachments[0].id).unwrap().unwrap();
    assert!(stored.complete);
    assert_eq!(stored.received_bytes, vigil_core::crypto::sealed_len(FILE_BYTES));
    // Two chunk buffers of 64 KiB, with room for SQLite's page cache; a copy of the file
    // would be 200 MB.
    assert!(capture_peak < 2 * 1024 * 1024, "capture peaked at {capture_peak} bytes");
    // A 1 MiB piece on each side of the loopback connection, with its copies in the HTTP
    // stacks of the client and the in-process server.
    assert!(upload_peak < 16 * 1024 * 1024, "upload peaked at {upload_peak} bytes");
}
