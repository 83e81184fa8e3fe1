//! Sampling the tree: CPU from /proc, GPU per process through NVML when
//! a driver is there (loaded at run time; no GPU is recorded once, not an
//! error).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::detect;
use crate::record::Recorder;

pub struct Monitor {
    pub rec: Recorder,
    /// The sandbox's init, as the supervisor sees it.
    pub root_pid: u32,
    pub cpu_threshold: f64,
    pub seconds: u64,
    /// Dropping the sender stops the monitor at once.
    pub stop: std::sync::mpsc::Receiver<()>,
    pub interval: Duration,
}

/// Every pid under `root` (root included), through /proc/PID/task/TID/children.
pub fn tree(root: u32) -> Vec<u32> {
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() && out.len() < 65536 {
        let pid = out[i];
        if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
            for t in tasks.flatten() {
                if let Ok(c) = std::fs::read_to_string(t.path().join("children")) {
                    out.extend(c.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
                }
            }
        }
        i += 1;
    }
    out
}

/// utime + stime in clock ticks, from /proc/PID/stat (after the `(comm)`).
fn cpu_ticks(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

pub fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|&c| c == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

struct Gpu {
    nvml: nvml_wrapper::Nvml,
    count: u32,
}

fn gpu_init(rec: &Recorder) -> Option<Gpu> {
    match nvml_wrapper::Nvml::init() {
        Ok(nvml) => {
            let count = nvml.device_count().unwrap_or(0);
            let mut r = rec.new_record("resource");
            r.detail = json!({"gpu": "nvml", "devices": count});
            rec.send(r);
            Some(Gpu { nvml, count })
        }
        Err(e) => {
            let mut r = rec.new_record("resource");
            r.detail = json!({"gpu": "unavailable", "reason": e.to_string()});
            rec.send(r);
            None
        }
    }
}

/// (pid, device, used memory bytes, SM utilisation %) for processes on any GPU.
fn gpu_procs(g: &Gpu) -> Vec<(u32, u32, u64, u32)> {
    let mut out = Vec::new();
    for i in 0..g.count {
        let Ok(dev) = g.nvml.device_by_index(i) else {
            continue;
        };
        let util: HashMap<u32, u32> = dev
            .process_utilization_stats(None)
            .map(|v| v.into_iter().map(|s| (s.pid, s.sm_util)).collect())
            .unwrap_or_default();
        let mut procs = dev.running_compute_processes().unwrap_or_default();
        procs.extend(dev.running_graphics_processes().unwrap_or_default());
        for p in procs {
            let mem = match p.used_gpu_memory {
                nvml_wrapper::enums::device::UsedGpuMemory::Used(b) => b,
                _ => 0,
            };
            out.push((p.pid, i, mem, util.get(&p.pid).copied().unwrap_or(0)));
        }
    }
    out
}

pub fn run(m: Monitor) {
    let ncpu = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let mut prev: HashMap<u32, u64> = HashMap::new();
    let mut last = Instant::now();
    let mut busy_since: Option<Instant> = None;
    let mut cpu_fired = false;
    let mut gpu = None;
    let mut gpu_tried = false;
    let mut gpu_seen: HashMap<u32, Instant> = HashMap::new();
    let mut gpu_fired = false;
    let mut peak = 0f64;
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = m.stop.recv_timeout(m.interval) {
        let dt = last.elapsed().as_secs_f64();
        last = Instant::now();
        let pids = tree(m.root_pid);
        let mut now: HashMap<u32, u64> = HashMap::new();
        let mut used = 0u64;
        let mut top = (0u64, 0u32);
        for &p in &pids {
            if let Some(t) = cpu_ticks(p) {
                let d = t.saturating_sub(prev.get(&p).copied().unwrap_or(t));
                used += d;
                if d > top.0 {
                    top = (d, p);
                }
                now.insert(p, t);
            }
        }
        prev = now;
        let cores = used as f64 / hz / dt;
        peak = peak.max(cores);
        if cores >= m.cpu_threshold * ncpu as f64 {
            let since = *busy_since.get_or_insert_with(Instant::now);
            if !cpu_fired && since.elapsed() >= Duration::from_secs(m.seconds) {
                cpu_fired = true;
                let who = cmdline(top.1);
                m.rec.finding(
                    detect::cpu_finding(cores, ncpu, m.seconds, &who),
                    json!({"pid": top.1, "cpu_cores": (cores * 100.0).round() / 100.0}),
                );
            }
        } else {
            busy_since = None;
        }
        // NVML is loaded on the first tick, off the start path.
        if !gpu_tried {
            gpu_tried = true;
            gpu = gpu_init(&m.rec);
        }
        if let Some(g) = &gpu {
            let mine: HashSet<u32> = pids.iter().copied().collect();
            for (pid, dev, mem, util) in gpu_procs(g) {
                if !mine.contains(&pid) {
                    continue;
                }
                let first = *gpu_seen.entry(pid).or_insert_with(|| {
                    let mut r = m.rec.new_record("resource");
                    r.detail = json!({"gpu": dev, "pid": pid, "gpu_memory": mem, "sm_util": util, "cmd": cmdline(pid)});
                    m.rec.send(r);
                    Instant::now()
                });
                if !gpu_fired && util >= 50 && first.elapsed() >= Duration::from_secs(m.seconds) {
                    gpu_fired = true;
                    m.rec.finding(
                        detect::gpu_finding(cmdline(pid), util, m.seconds),
                        json!({"pid": pid, "gpu": dev}),
                    );
                }
            }
        }
    }
    let mut r = m.rec.new_record("resource");
    r.detail = json!({"cpu_peak_cores": (peak * 100.0).round() / 100.0, "cores": ncpu});
    m.rec.send(r);
}
