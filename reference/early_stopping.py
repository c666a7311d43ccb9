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
        self.monitor = monitor
        self.mode = mode
        self.patience = patience
        self.__value = -math.inf if mode == 'max' else math.inf
        self.__times = 0
        # ********** End **********

    def state_dict(self) -> dict:
        """保存状态,以便下次加载恢复 (e.g. torch.save(state_dict, path))."""
        # ********** Begin **********
        return {
            'monitor': self.monitor,
            'mode': self.mode,
            'patience': self.patience,
            'value': self.__value,
            'times': self.__times,
        }
        # ********** End **********

    def load_state_dict(self, state_dict: dict):
        """加载状态: restore what state_dict() returned."""
        # ********** Begin **********
        self.monitor = state_dict['monitor']
        self.mode = state_dict['mode']
        self.patience = state_dict['patience']
        self.__value = state_dict['value']
        self.__times = state_dict['times']
        # ********** End **********

    def reset(self):
        """重置次数: zero the counter (the best value is kept)."""
        # ********** Begin **********
        self.__times = 0
        # ********** End **********

    def __call__(self, metrics) -> bool:
        """
        :param metrics: 指标字典或数值标量 (a dict of metrics or a number)
        :return: True when training should stop
        """
        # ********** Begin **********
        if isinstance(metrics, dict):
            metrics = metrics[self.monitor]
        if (self.mode == 'min' and metrics <= self.__value) or (
                self.mode == 'max' and metrics >= self.__value):
            self.__value = metrics
            self.__times = 0
        else:
            self.__times += 1
        if self.__times >= self.patience:
            return True
        return False
        # ********** End **********


# ********** Begin **********
# 初始化提前终止对象,监测模式为最大,最多容忍3次
early_stop = EarlyStopping(mode='max', patience=3)
# ********** End **********
