use slate_activities::plan::Request;
use slate_engine::RunState;

use crate::harness::VideoHarness;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_from_stitching_clears_what_stitching_and_later_phases_made_until_they_run_again()
{
    let h = VideoHarness::new().await;
    let worker = h.worker();
    let run = h.start(Request::new("15s ad for a desk lamp, calm")).await;
    assert_eq!(h.wait_end(run).await.state, RunState::Completed);
    worker.cancel();
    let before = h.video(run).await;

    h.engine.replay(run, "stitching").await.unwrap();
    let replaying = h.video(run).await;
    assert_eq!(replaying["status"], "stitching");
    assert_eq!(replaying["spec"], before["spec"]);
    assert_eq!(replaying["storyboard_keys"], before["storyboard_keys"]);
    assert_eq!(replaying["chunk_keys"], before["chunk_keys"]);
    assert!(replaying["stitched_key"].is_null(), "{replaying}");
    assert!(replaying["final_key"].is_null(), "{replaying}");
    let costs = replaying["cost_breakdown"].as_object().unwrap();
    let phases: Vec<&str> = costs.keys().map(String::as_str).collect();
    assert_eq!(phases, ["generating_chunks", "planning", "storyboarding"]);

    let _worker = h.worker();
    assert_eq!(h.wait_end(run).await.state, RunState::Completed);
    let replayed = h.video(run).await;
    assert_eq!(replayed["status"], "complete");
    assert!(replayed["final_key"].is_string(), "{replayed}");
    assert_eq!(replayed["cost_breakdown"], before["cost_breakdown"]);
    h.db.drop().await;
}
