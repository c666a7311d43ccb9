"""提前终止 Early stopping.

Stop training once the monitored metric has not improved for ``patience``
calls in a row.  A value that is <= the best so far (mode 'min') or >= it
(mode 'max') counts as an improvement: ties count.  An improvement becomes
the new best and zeroes the counter; any other value adds one to the counter,
and the call returns True once the counter reaches ``patience``.

    early_stop = EarlyStopping(mode='max', patience=3)
    for epoch in range(1, 30):
        train(epoch)
        acc = test()
        if early_stop(acc):
            break
"""
import math


class EarlyStopping(object):
    def __init__(self, monitor: str = 'val_loss', mode: str = 'min', patience: int = 1):
        """
        :param monitor: 要监测的指标,只有传入指标字典才会生效 (the key read from a dict of metrics)
        :param mode: 监测指标的模式,min 或 max
        :param patience: 最大容忍次数
        """
        # ********** Begin **********
        raise NotImplementedError("EarlyStopping.__init__ (write your code between Begin and End)")
        # ********** End **********

    def state_dict(self) -> dict:
        """保存状态,以便下次加载恢复 (e.g. torch.save(state_dict, path))."""
        # ********** Begin **********
        raise NotImplementedError("EarlyStopping.state_dict (write your code between Begin and End)")
        # ********** End **********

    def load_state_dict(self, state_dict: dict):
        """加载状态: restore what state_dict() returned."""
        # ********** Begin **********
        raise NotImplementedError("EarlyStopping.load_state_dict (write your code between Begin and End)")
        # ********** End **********

    def reset(self):
        """重置次数: zero the counter (the best value is kept)."""
        # ********** Begin **********
        raise NotImplementedError("EarlyStopping.reset (write your code between Begin and End)")
        # ********** End **********

    def __call__(self, metrics) -> bool:
        """
        :param metrics: 指标字典或数值标量 (a dict of metrics or a number)
        :return: True when training should stop
        """
        # ********** Begin **********
        raise NotImplementedError("EarlyStopping.__call__ (write your code between Begin and End)")
        # ********** End **********


# ********** Begin **********
# 初始化提前终止对象,监测模式为最大,最多容忍3次
early_stop = None
# ********** End **********
