"""The DaemonSet controller: pure plan/rollout/history/status decisions and the sync loop."""
