"""`python -m deploy`: the 30 Hz loop that runs a base policy plus an exported residual on an
SO-101 (LeRobot `so101_follower`) or on the simulated robot with the same interface.

Data path, one step (every 1/30 s):
    robot.get_observation()            joints (LeRobot degrees, gripper 0..100) + camera frames
      -> units (bridge.units)          sim radians
      -> perception.estimate           the sheet's x, y (m), yaw (rad) from the top camera
      -> deploy.observe                the 25-float observation (mjx_env.task.observation)
      -> deploy.bases                  base joint target (scripted expert, or a model's chunk,
                                       the next chunk requested while this one runs)
      -> policy.exported (export)      + the residual: target = last + k (base - last)
                                       + alpha * scale * residual (last: the previous setpoint)
      -> deploy.safety                 step bound, deadlines, camera, pose estimate
      -> robot.send_action(...)        LeRobot degrees

Modules: config (frozen configs), robot (the LeRobot-shaped interface), lerobot_robot (the
so101_follower adapter, lazy), sim_robot (the simulated robot), observe, bases,
safety, look (finding a sheet hidden at the start), loop, session (parts built once), cli +
run (the command). Imports no module of the trainer package (ppo).
"""
