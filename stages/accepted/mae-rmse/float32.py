import numpy as np

ndarray = np.ndarray


def comp_mae(pred: ndarray, actual: ndarray) -> ndarray:
    """
    计算平均绝对误差
    :param pred: 预测值,1*n维评分矩阵
    :param actual: 真实值,1*n维评分矩阵
    :return: 平均绝对误差
    """
    # 计算预测评分与用户实际评分差值的绝对值
    error = np.abs(pred - actual)
    count = error.shape[0]
    # 使用error和count计算平均绝对误差
    # ********** Begin *********
    MAE = np.mean(np.abs(np.asarray(pred, np.float32) - np.asarray(actual, np.float32)))
    # ********** End *********
    return MAE


def comp_rmse(pred: ndarray, actual: ndarray) -> ndarray:
    """
    计算根均方误差
    :param pred: 预测值,1*n维评分矩阵
    :param actual: 真实值,1*n维评分矩阵
    :return: 根均方误差
    """
    error = pred - actual
    count = error.shape[0]
    # 根据预测评分向量和实际评分向量计算根均方误差
    # ********** Begin *********
    e32 = error.astype(np.float32)
    RMSE = np.sqrt(np.mean(e32 * e32))
    # ********** End *********
    return RMSE
